using System.CommandLine;
using Engine.Client.Cli.Operations;
using Engine.Client.Cli.Output;

namespace Engine.Client.Cli.Commands;

/// <summary><c>engine-client heartbeat</c>: a Manage heartbeat, its round-trip time and the worker's metrics.</summary>
internal static class HeartbeatCommand
{
    public static Command Create(CliContext context)
    {
        var worker = CommonOptions.Worker(required: true, "The worker's address: unix:///path/to/socket or http://host:port.");
        var timeout = CommonOptions.Timeout("Deadline of the heartbeat, for example 500ms or 5s. Default 5s.");
        var keepAlive = CommonOptions.KeepAlive();
        var json = CommonOptions.Json("Print one JSON object on stdout.");
        var credentials = new CredentialOptions();
        var command = new Command("heartbeat", "Ask a worker for a heartbeat: prints the round-trip time and the worker's metrics. Exit 0 answered, 3 unreachable or no answer in time, 130 interrupted.")
        {
            worker, timeout, keepAlive, json,
        };
        credentials.AddTo(command);
        command.SetAction((parse, _) => CliApp.GuardAsync(context, parse, async () =>
        {
            var address = parse.GetValue(worker)!;
            var result = await ManageOperations.HeartbeatAsync(address, parse.GetValue(timeout) ?? TimeSpan.FromSeconds(5), context.Signals.Interrupt, parse.GetValue(keepAlive), credentials.Read(parse));
            if (parse.GetValue(json))
            {
                await context.Console.Out.WriteLineAsync(ManageJson.Heartbeat(result));
            }
            else
            {
                ManageText.Heartbeat(result, Renderer.For(context.Console));
            }

            return result.ExitCode;
        }));
        return command;
    }
}
