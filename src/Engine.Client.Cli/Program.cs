using Engine.Client.Cli;
using Engine.Client.Cli.Hosting;

var console = CliConsole.System();
try
{
    using var signals = InterruptSignals.Register();
    return await CliApp.RunAsync(args, new CliContext(console, signals));
}
catch (Exception ex) when (ex is not OutOfMemoryException)
{
    // Outside every command's guard (the guard itself failed): one line, never an abort.
    await console.Error.WriteLineAsync($"{CliApp.Name}: unexpected error ({ex.GetType().Name}): {CliApp.OneLine(ex.Message)}");
    return ExitCodes.Internal;
}
