using System.CommandLine;
using Engine.Client.Cli.Operations;
using Engine.Client.Cli.Output;

namespace Engine.Client.Cli.Commands;

/// <summary><c>engine-client demo</c>: a guided tour against the bundled reference worker.</summary>
internal static class DemoCommand
{
    public static Command Create(CliContext context)
    {
        var command = new Command("demo", "Start the bundled reference worker on a Unix domain socket, send it a chunked payload, stream data through it, show what came back, its metrics and a heartbeat, then shut it down. Exit 0 when every step worked.");
        command.SetAction((parse, _) => CliApp.GuardAsync(context, parse, () =>
            DemoOperation.RunAsync(Renderer.For(context.Console), context.Console.Error, context.Signals.Interrupt, context.Signals.Force)));
        return command;
    }
}
