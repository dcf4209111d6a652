using System.CommandLine;
using Engine.Client.Cli.Operations;
using Engine.Client.Cli.Output;

namespace Engine.Client.Cli.Commands;

/// <summary><c>engine-client shutdown</c>: a Manage shutdown.</summary>
internal static class ShutdownCommand
{
    public static Command Create(CliContext context)
    {
        var worker = CommonOptions.Worker(required: true, "The worker's address: unix:///path/to/socket or http://host:port.");
        var cancelSessions = new Option<bool>("--cancel-sessions") { Description = "Ask the worker to cancel its in-flight sessions at once (otherwise they complete normally)." };
        var reason = new Option<string?>("--reason") { Description = "A diagnostic reason sent with the request.", HelpName = "text" };
        var timeout = CommonOptions.Timeout("Deadline of the request, for example 10s. Default 30s (the worker may settle its sessions first).");
        var keepAlive = CommonOptions.KeepAlive();
        var json = CommonOptions.Json("Print one JSON object on stdout.");
        var credentials = new CredentialOptions();
        var command = new Command("shutdown", "Tell a worker that no further sessions will come: it settles (or with --cancel-sessions cancels) its sessions and exits. Exit 0 answered, 3 unreachable or no answer in time, 130 interrupted.")
        {
            worker, cancelSessions, reason, timeout, keepAlive, json,
        };
        credentials.AddTo(command);
        command.SetAction((parse, _) => CliApp.GuardAsync(context, parse, async () =>
        {
            var result = await ManageOperations.ShutdownAsync(
                parse.GetValue(worker)!,
                parse.GetValue(reason) ?? "engine-client shutdown",
                parse.GetValue(cancelSessions),
                parse.GetValue(timeout) ?? TimeSpan.FromSeconds(30),
                context.Signals.Interrupt,
                parse.GetValue(keepAlive),
                credentials.Read(parse));
            if (parse.GetValue(json))
            {
                await context.Console.Out.WriteLineAsync(ManageJson.Shutdown(result));
            }
            else
            {
                ManageText.Shutdown(result, Renderer.For(context.Console));
            }

            return result.ExitCode;
        }));
        return command;
    }
}
