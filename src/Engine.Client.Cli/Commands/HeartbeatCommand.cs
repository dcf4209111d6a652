using System.CommandLine;
using Engine.Client.Cli.Operations;
using Engine.Client.Cli.Output;

namespace Engine.Client.Cli.Commands;

/// <summary><c>engine-client heartbeat</c>: a Manage heartbeat, its round-trip time and the worker's metrics; on several workers, each.</summary>
internal static class HeartbeatCommand
{
    public static Command Create(CliContext context)
    {
        var worker = CommonOptions.Workers("The worker's address: unix:///path/to/socket or http://host:port. Repeat it to ask several workers.");
        var fleet = CommonOptions.Fleet();
        var timeout = CommonOptions.Timeout("Deadline of the heartbeat, for example 500ms or 5s. Default 5s.");
        var keepAlive = CommonOptions.KeepAlive();
        var json = CommonOptions.Json("Print one JSON object on stdout.");
        var credentials = new CredentialOptions();
        var command = new Command("heartbeat", "Ask a worker for a heartbeat: prints the round-trip time and the worker's metrics. Exit 0 answered, 3 unreachable or no answer in time, 130 interrupted. On several workers (--worker repeated, or --fleet): exit 0 every one answered, 3 none did, 1 otherwise.")
        {
            worker, fleet, timeout, keepAlive, json,
        };
        credentials.AddTo(command);
        command.SetAction((parse, _) => CliApp.GuardAsync(context, parse, async () =>
        {
            var targets = FleetTargets.From(parse.GetValue(worker), parse.GetValue(fleet), required: true)!;
            var deadline = parse.GetValue(timeout) ?? TimeSpan.FromSeconds(5);
            var access = credentials.Read(parse);
            if (targets.IsSingle)
            {
                var result = await ManageOperations.HeartbeatAsync(targets.Workers[0], deadline, context.Signals.Interrupt, parse.GetValue(keepAlive), access);
                if (parse.GetValue(json))
                {
                    await context.Console.Out.WriteLineAsync(ManageJson.Heartbeat(result));
                }
                else
                {
                    ManageText.Heartbeat(result, Renderer.For(context.Console));
                }

                return result.ExitCode;
            }

            var report = await FleetOperations.EachAsync(
                targets,
                deadline,
                parse.GetValue(keepAlive),
                access,
                address => ManageOperations.HeartbeatAsync(address, deadline, context.Signals.Interrupt, parse.GetValue(keepAlive), access),
                context.Signals.Interrupt);
            if (parse.GetValue(json))
            {
                await context.Console.Out.WriteLineAsync(FleetOutput.CallsJson(report, ManageJson.WriteHeartbeat));
            }
            else
            {
                FleetOutput.CallsText(report, Renderer.For(context.Console), ManageText.Heartbeat);
            }

            return report.ExitCode;
        }));
        return command;
    }
}
