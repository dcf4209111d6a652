using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using Engine.Client.Benchmarks.Reporting;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>
/// Where a short session's allocations go: the runtime's allocation sampling events (one event per
/// about 100 KB allocated, naming the type that crossed the mark), aggregated by type, while the
/// SDK and then the hand-written loop run short sessions (open, Init, one 1 KiB batch, Finish)
/// against one worker. A statistical profile: a type's share of the samples is its share of the
/// bytes allocated.
/// </summary>
public static class AllocationProfile
{
    public static async Task<int> RunAsync(BenchOptions options, TextWriter log)
    {
        var sessions = Math.Max(1000, (int)(20_000 * options.Scale));
        await using var worker = await ReferenceWorker.StartAsync(options.Transports[0]).ConfigureAwait(false);
        using var clients = ClientSet.Create(worker, 1024);
        var batch = new byte[1024];
        foreach (var (name, run) in new (string, Func<int, Task>)[]
        {
            ("SDK", n => Repeat(n, () => EchoLoops.SdkShortAsync(clients.Sdk, batch))),
            ("hand-written", n => Repeat(n, () => EchoLoops.HandWrittenShortAsync(clients.HandSdkTransport, batch))),
            ("engine-client load --concurrency 1", n => LoadOverheadRun.ClosedAsync(clients.Sdk, batch, n)),
        })
        {
            await run(200).ConfigureAwait(false);
            using var sampler = new Sampler();
            var before = GC.GetTotalAllocatedBytes(precise: true);
            await run(sessions).ConfigureAwait(false);

            var perSession = (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)sessions;
            log.WriteLine($"== {name}: {sessions} short sessions, {Format.Number(perSession, "0")} bytes allocated per session (process-wide) ==");
            var total = sampler.Bytes.Values.Sum();
            foreach (var (type, bytes) in sampler.Bytes.OrderByDescending(p => p.Value).Take(40))
            {
                log.WriteLine($"{Format.Number(100.0 * bytes / total, "0.0"),5} %  {Format.Number(perSession * bytes / total, "0"),6} B/session  {type}");
            }
        }

        return 0;
    }

    private static async Task Repeat(int sessions, Func<Task> session)
    {
        for (var i = 0; i < sessions; i++)
        {
            await session().ConfigureAwait(false);
        }
    }

    private sealed class Sampler : EventListener
    {
        public ConcurrentDictionary<string, long> Bytes { get; } = new();

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs data)
        {
            if (data.EventName is not { } name || !name.StartsWith("GCAllocationTick", StringComparison.Ordinal) || data.Payload is null)
            {
                return;
            }

            var type = data.PayloadNames?.IndexOf("TypeName") is >= 0 and var t ? data.Payload[t] as string ?? "?" : "?";
            var amount = data.PayloadNames?.IndexOf("AllocationAmount") is >= 0 and var a ? Convert.ToInt64(data.Payload[a], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
            Bytes.AddOrUpdate(type, amount, (_, sum) => sum + amount);
        }
    }
}
