namespace Engine.Client.Benchmarks.Harness;

/// <summary>
/// Where a short session's time goes, alone: the churn suite's phase table
/// (<see cref="SessionPhases"/>) without its blocks, for the SDK, the hand-written loop and the
/// hand-written loop in the concurrency shapes of <see cref="HandShape"/>, alternating session by
/// session; each round prints the medians of its sessions.
/// </summary>
public static class PhasesRun
{
    public static async Task<int> RunAsync(BenchOptions options, int sessions, TextWriter log)
    {
        var transport = options.Transports[0];
        var rounds = options.Repetitions == 20 ? 5 : options.Repetitions;
        var batch = ThroughputSuite.NewBatch(1024);
        await using var worker = await ReferenceWorker.StartAsync(transport, environment: options.WorkerEnvironment, executable: await NativeBinaries.WorkerOrDefaultAsync(options.AgainstNative, log).ConfigureAwait(false)).ConfigureAwait(false);
        using var clients = ClientSet.Create(worker, batch.Length);
        if (options.Pin)
        {
            await CpuPinning.PinEngineAndWorkerAsync(worker.Process.Id, log).ConfigureAwait(false);
        }

        // Warm-up: long enough for tiered compilation to settle, as in the load overhead run.
        await SessionPhases.RunWithShapesAsync(clients.Sdk, clients.HandSdkTransport, 3000).ConfigureAwait(false);

        log.WriteLine($"median microseconds per phase, {sessions} sessions of each client per round, {(options.PhaseBlocks ? "each client's in a block of its own" : "alternating session by session")}; worker: {(options.AgainstNative ? "native gRPC C++" : "reference")} over {transport}{string.Concat(options.WorkerEnvironment.Select(v => $", {v.Key}={v.Value}"))}{(options.HandDelay > TimeSpan.Zero ? $"; the hand-written session busy-waits {options.HandDelay.TotalMicroseconds:0.##} us before its batch" : "")}:");
        log.WriteLine($"  {"client",-19} {"Init",6} {"echo",6} {"Finish",6} {"close",6} {"total",6}");
        for (var round = 0; round < rounds; round++)
        {
            foreach (var p in await SessionPhases.RunWithShapesAsync(clients.Sdk, clients.HandSdkTransport, sessions, options.PhaseBlocks, options.HandDelay).ConfigureAwait(false))
            {
                log.WriteLine($"  {p.Name,-19} {p.InitMicros,6:0} {p.EchoMicros,6:0} {p.FinishMicros,6:0} {p.CloseMicros,6:0} {p.TotalMicros,6:0}");
            }
        }

        return 0;
    }
}
