using Engine.Client.Cli;
using Engine.Client.Cli.Hosting;

using var signals = InterruptSignals.Register();
return await CliApp.RunAsync(args, new CliContext(CliConsole.System(), signals));
