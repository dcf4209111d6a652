using Engine.ReferenceWorker.Hosting;

// The reference worker: `Engine.ReferenceWorker --id <id> --connection <socket path|port>`.
// Exit codes: 0 stopped normally (SIGTERM, Manage Shutdown, parent died), 1 could not listen,
// 2 bad command line.
if (!WorkerArguments.TryParse(args, out var arguments, out var error))
{
    await Console.Error.WriteLineAsync("Engine.ReferenceWorker: " + error).ConfigureAwait(false);
    return 2;
}

if (arguments.IgnoredArguments.Count > 0)
{
    await Console.Error.WriteLineAsync("Engine.ReferenceWorker: ignoring unknown arguments: " + string.Join(", ", arguments.IgnoredArguments)).ConfigureAwait(false);
}

if (arguments.HelpRequested)
{
    await Console.Out.WriteLineAsync(WorkerArguments.Usage).ConfigureAwait(false);
    return 0;
}

return await WorkerHost.RunAsync(arguments).ConfigureAwait(false);
