using System.CommandLine;
using Engine.Client.Cli.Operations;
using Engine.Client.Cli.Output;

namespace Engine.Client.Cli.Commands;

/// <summary><c>engine-client fleet</c>: commands on a fleet of remote workers.</summary>
internal static class FleetCommand
{
    public static Command Create(CliContext context)
    {
        var command = new Command("fleet", "Commands on a fleet of remote workers (--worker repeated, or --fleet <dns:///name:port | file>).")
        {
            Status(context),
        };
        return command;
    }

    private static Command Status(CliContext context)
    {
        var worker = CommonOptions.Workers("A worker's address: unix:///path/to/socket, http://host:port or https://host:port. Repeatable.");
        var fleet = CommonOptions.Fleet();
        var timeout = CommonOptions.Timeout("Deadline of each heartbeat, for example 500ms or 5s. Default 5s.");
        var keepAlive = CommonOptions.KeepAlive();
        var json = CommonOptions.Json("Print one JSON object on stdout: { \"workers\": [ ... ] }.");
        var credentials = new CredentialOptions();
        var command = new Command("status", "Heartbeat every worker of the fleet and print each one's address, identity, state (healthy, ejected, draining), sessions in flight, reported load and last heartbeat age. Exit 0 every worker healthy, 3 none answered, 1 otherwise, 2 bad usage, 130 interrupted.")
        {
            worker, fleet, timeout, keepAlive, json,
        };
        credentials.AddTo(command);
        command.SetAction((parse, _) => CliApp.GuardAsync(context, parse, async () =>
        {
            var targets = FleetTargets.From(parse.GetValue(worker), parse.GetValue(fleet), required: true)!;
            var access = credentials.Read(parse);
            FleetReport report;
            try
            {
                report = await FleetOperations.StatusAsync(targets, parse.GetValue(timeout) ?? TimeSpan.FromSeconds(5), parse.GetValue(keepAlive), access, context.Signals.Interrupt);
            }
            catch (OperationCanceledException) when (context.Signals.Interrupt.IsCancellationRequested)
            {
                await context.Console.Error.WriteLineAsync("engine-client fleet status: interrupted.");
                return ExitCodes.Interrupted;
            }

            if (parse.GetValue(json))
            {
                await context.Console.Out.WriteLineAsync(FleetOutput.StatusJson(report));
            }
            else
            {
                FleetOutput.StatusText(report, Renderer.For(context.Console));
            }

            return report.ExitCode;
        }));
        return command;
    }
}
