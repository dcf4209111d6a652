using System.CommandLine;
using System.Threading.Channels;
using Engine.Client.Cli.Operations;
using Engine.Client.Cli.Output;

namespace Engine.Client.Cli.Commands;

/// <summary><c>engine-client workers start</c>: launches workers and keeps them up until interrupted.</summary>
internal static class WorkersCommand
{
    public static Command Create(CliContext context)
    {
        var spec = new Option<string>("--spec") { Description = "The worker specification file to launch workers from.", HelpName = "file", Required = true };
        var count = new Option<int?>("--count") { Description = $"How many workers to launch: 1 (the default) to {WorkerLaunches.MaxWorkers}, launched 4 at a time.", HelpName = "n" };
        var json = CommonOptions.Json("Print the workers as one JSON object on stdout instead of one address per line.");
        var start = new Command("start", "Launch workers from a specification and print their addresses (one per line, or JSON); keep them up, replacing any that dies, until Ctrl+C or SIGTERM, then stop them cleanly (exit 0). Exit 2 bad specification, 3 a worker could not be started or was lost while up, 130 interrupted while starting.")
        {
            spec, count, json,
        };
        start.SetAction((parse, _) => CliApp.GuardAsync(context, parse, async () =>
        {
            var workerCount = WorkerLaunches.CheckCount(parse.GetValue(count), "--count");
            var specification = SpecificationFiles.LoadValid(parse.GetValue(spec)!, "--spec");
            return await WorkersHost.RunAsync(specification, workerCount, parse.GetValue(json), context);
        }));

        return new Command("workers", "Launch and keep workers.") { start };
    }
}

/// <summary>Keeps launched workers up until interrupted, reporting and replacing the ones that fail.</summary>
internal static class WorkersHost
{
    public static async Task<int> RunAsync(WorkerSpecification specification, int count, bool json, CliContext context)
    {
        var error = context.Console.Error;
        var interrupt = context.Signals.Interrupt;
        var pool = WorkerPool.Create(specification, new WorkerPoolOptions { MaxIdleWorkers = count, CancelSessionsOnDispose = true });
        var lost = Channel.CreateUnbounded<PooledWorkerInfo>();
        pool.WorkerLost += (_, worker) => lost.Writer.TryWrite(worker);
        WatchResult watched;
        try
        {
            IReadOnlyList<PooledWorkerInfo> workers;
            try
            {
                workers = await pool.StartWorkersAsync(count, interrupt);
            }
            catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
            {
                await error.WriteLineAsync("engine-client workers start: interrupted while starting; stopping the workers already up.");
                return ExitCodes.Interrupted;
            }
            catch (Exception ex) when (ex is WorkerLaunchException or WorkerEnvironmentException)
            {
                await error.WriteLineAsync($"engine-client workers start: a worker could not be started: {CliApp.OneLine(ex.Message)}");
                return ExitCodes.Transport;
            }

            if (json)
            {
                await context.Console.Out.WriteLineAsync(WorkersJson(workers));
            }
            else
            {
                foreach (var worker in workers)
                {
                    await context.Console.Out.WriteLineAsync(worker.Address.ToString());
                }
            }

            await context.Console.Out.FlushAsync(CancellationToken.None);
            if (context.Console.OutputFailure is not null)
            {
                // Nobody can learn the addresses: keeping the workers up would serve no one.
                await error.WriteLineAsync("engine-client workers start: the addresses could not be written to stdout; stopping the workers.");
                return ExitCodes.Usage;
            }

            var pids = string.Join(", ", workers.Select(w => w.ProcessId));
            await error.WriteLineAsync($"engine-client: {workers.Count} worker{(workers.Count == 1 ? string.Empty : "s")} up (pid {pids}); Ctrl+C or SIGTERM stops {(workers.Count == 1 ? "it" : "them")}.");
            watched = await WatchAsync(pool, lost.Reader, error, interrupt);
            await error.WriteLineAsync("engine-client: stopping the workers.");
        }
        finally
        {
            var dispose = pool.DisposeAsync().AsTask();
            try
            {
                await dispose.WaitAsync(context.Signals.Force);
            }
            catch (OperationCanceledException)
            {
                await error.WriteLineAsync("engine-client: interrupted again; exiting without waiting for the workers (they are killed when engine-client exits).");
            }
        }

        if (context.Signals.Force.IsCancellationRequested)
        {
            return ExitCodes.Interrupted;
        }

        if (watched.Lost > 0)
        {
            // The workers did not stay up: that is not a success, even when replaced.
            await error.WriteLineAsync($"engine-client: workers stopped; {watched.Lost} worker{(watched.Lost == 1 ? " was" : "s were")} lost while up{(watched.ReplacementFailed ? " and could not be replaced" : string.Empty)}.");
            return ExitCodes.Transport;
        }

        await error.WriteLineAsync("engine-client: workers stopped.");
        return ExitCodes.Success;
    }

    public static string WorkersJson(IReadOnlyList<PooledWorkerInfo> workers) => JsonOutput.Document(json =>
    {
        json.WriteStartObject();
        json.WriteStartArray("workers");
        foreach (var worker in workers)
        {
            json.WriteStartObject();
            json.WriteString("id", worker.Id);
            json.WriteNumber("pid", worker.ProcessId);
            json.WriteString("address", worker.Address.ToString());
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    });

    /// <summary>
    /// Until interrupted: reports each worker the pool declares lost (its process exited, or it
    /// missed its heartbeats) and launches a replacement. Ends early when a replacement cannot be
    /// launched.
    /// </summary>
    private static async Task<WatchResult> WatchAsync(WorkerPool pool, ChannelReader<PooledWorkerInfo> lost, TextWriter error, CancellationToken interrupt)
    {
        var count = 0;
        try
        {
            await foreach (var worker in lost.ReadAllAsync(interrupt))
            {
                count++;
                await error.WriteLineAsync($"engine-client: worker {worker.Id} (pid {worker.ProcessId}, {worker.Address}) is unhealthy: {CliApp.OneLine(worker.UnhealthyReason ?? "no reason given")}; replacing it.");
                try
                {
                    var replacement = (await pool.StartWorkersAsync(1, interrupt)).Single();
                    await error.WriteLineAsync($"engine-client: worker {replacement.Id} (pid {replacement.ProcessId}) replaces worker {worker.Id}, at {replacement.Address}.");
                }
                catch (Exception ex) when (ex is WorkerLaunchException or WorkerEnvironmentException)
                {
                    await error.WriteLineAsync($"engine-client: worker {worker.Id} could not be replaced: {CliApp.OneLine(ex.Message)}");
                    return new WatchResult(count, ReplacementFailed: true);
                }
            }
        }
        catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
        {
            // Ctrl+C or SIGTERM: stop the workers.
        }

        return new WatchResult(count, ReplacementFailed: false);
    }

    private readonly record struct WatchResult(int Lost, bool ReplacementFailed);
}
