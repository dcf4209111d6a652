using System.CommandLine;
using Engine.Client.Cli.Operations;
using Engine.Client.Cli.Output;

namespace Engine.Client.Cli.Commands;

/// <summary><c>engine-client shutdown</c>: a Manage shutdown; on several workers, each.</summary>
internal static class ShutdownCommand
{
    public static Command Create(CliContext context)
    {
        var worker = CommonOptions.Workers("The worker's address: unix:///path/to/socket or http://host:port. Repeat it to shut down several workers.");
        var fleet = CommonOptions.Fleet();
        var cancelSessions = new Option<bool>("--cancel-sessions") { Description = "Ask the worker to cancel its in-flight sessions at once (otherwise they complete normally)." };
        var reason = new Option<string?>("--reason") { Description = "A diagnostic reason sent with the request.", HelpName = "text" };
        var timeout = CommonOptions.Timeout("Deadline of the request, for example 10s. Default 30s (the worker may settle its sessions first).");
        var keepAlive = CommonOptions.KeepAlive();
        var json = CommonOptions.Json("Print one JSON object on stdout.");
        var credentials = new CredentialOptions();
        var command = new Command("shutdown", "Tell a worker that no further sessions will come: it settles (or with --cancel-sessions cancels) its sessions and exits. Exit 0 answered, 3 unreachable or no answer in time, 130 interrupted. On several workers (--worker repeated, or --fleet): exit 0 every one answered, 3 none did, 1 otherwise.")
        {
            worker, fleet, cancelSessions, reason, timeout, keepAlive, json,
        };
        credentials.AddTo(command);
        command.SetAction((parse, _) => CliApp.GuardAsync(context, parse, async () =>
        {
            var targets = FleetTargets.From(parse.GetValue(worker), parse.GetValue(fleet), required: true)!;
            var deadline = parse.GetValue(timeout) ?? TimeSpan.FromSeconds(30);
            var access = credentials.Read(parse);
            Task<ManageReport> Shutdown(WorkerAddress address) => ManageOperations.ShutdownAsync(
                address,
                parse.GetValue(reason) ?? "engine-client shutdown",
                parse.GetValue(cancelSessions),
                deadline,
                context.Signals.Interrupt,
                parse.GetValue(keepAlive),
                access);

            if (targets.IsSingle)
            {
                var result = await Shutdown(targets.Workers[0]);
                if (parse.GetValue(json))
                {
                    await context.Console.Out.WriteLineAsync(ManageJson.Shutdown(result));
                }
                else
                {
                    ManageText.Shutdown(result, Renderer.For(context.Console));
                }

                return result.ExitCode;
            }

            var report = await FleetOperations.EachAsync(targets, deadline, parse.GetValue(keepAlive), access, Shutdown, context.Signals.Interrupt);
            if (parse.GetValue(json))
            {
                await context.Console.Out.WriteLineAsync(FleetOutput.CallsJson(report, ManageJson.WriteShutdown));
            }
            else
            {
                FleetOutput.CallsText(report, Renderer.For(context.Console), ManageText.Shutdown);
            }

            return report.ExitCode;
        }));
        return command;
    }
}
