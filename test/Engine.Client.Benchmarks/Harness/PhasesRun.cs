namespace Engine.Client.Benchmarks.Harness;

/// <summary>
/// Where a short session's time goes, alone: the churn suite's phase table
/// (<see cref="SessionPhases"/>) without its blocks, for the SDK, the hand-written loop and the
/// hand-written loop in the concurrency shapes of <see cref="HandShape"/>, alternating session by
/// session; each round prints the medians of its sessions.
/// </summary>
public static class PhasesRun
{
    public static async Task<int> RunAsync(BenchTransport transport, int rounds, int sessions, bool pin, TextWriter log)
    {
        var batch = ThroughputSuite.NewBatch(1024);
        await using var worker = await ReferenceWorker.StartAsync(transport).ConfigureAwait(false);
        using var clients = ClientSet.Create(worker, batch.Length);
        if (pin)
        {
            await CpuPinning.PinEngineAndWorkerAsync(worker.Process.Id, log).ConfigureAwait(false);
        }

        // Warm-up: long enough for tiered compilation to settle, as in the load overhead run.
        await SessionPhases.RunWithShapesAsync(clients.Sdk, clients.HandSdkTransport, 3000).ConfigureAwait(false);

        log.WriteLine($"median microseconds per phase, {sessions} sessions of each client per round:");
        log.WriteLine($"  {"client",-19} {"Init",6} {"echo",6} {"Finish",6} {"close",6} {"total",6}");
        for (var round = 0; round < rounds; round++)
        {
            foreach (var p in await SessionPhases.RunWithShapesAsync(clients.Sdk, clients.HandSdkTransport, sessions).ConfigureAwait(false))
            {
                log.WriteLine($"  {p.Name,-19} {p.InitMicros,6:0} {p.EchoMicros,6:0} {p.FinishMicros,6:0} {p.CloseMicros,6:0} {p.TotalMicros,6:0}");
            }
        }

        return 0;
    }
}
