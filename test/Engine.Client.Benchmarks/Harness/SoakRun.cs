using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>The memory of one long session.</summary>
public sealed record SoakResult
{
    /// <summary><c>sdk</c> or <c>hand-written</c>.</summary>
    public required string Client { get; init; }

    public required string Transport { get; init; }

    public required int BatchSize { get; init; }

    public required long Bytes { get; init; }

    public required long Batches { get; init; }

    public required double Seconds { get; init; }

    /// <summary>Peak resident set of the engine process during the session (VmHWM, reset at its start).</summary>
    public required long PeakWorkingSet { get; init; }

    /// <summary>Peak resident set of the engine process over its whole life (start-up, warm-up and the session).</summary>
    public required long PeakWorkingSetSinceStart { get; init; }

    /// <summary>Largest GC heap sampled during the session (live objects and garbage not yet collected).</summary>
    public required long PeakGcHeap { get; init; }

    /// <summary>GC heap after the session and a full collection: what stays.</summary>
    public required long GcHeapAfter { get; init; }

    /// <summary>Peak resident set of the worker process (its whole life).</summary>
    public required long WorkerPeakWorkingSet { get; init; }

    public required int Gen2 { get; init; }

    public double MBps => Bytes / Seconds / 1e6;
}

/// <summary>
/// At least 4 GiB through ONE session (echo) while the engine process's peak working set is
/// watched. Every client and batch size runs in a fresh process (the <c>soak</c> mode, started by
/// <c>e2e</c>), so no earlier run's heap counts in its peak. The hand-written loop runs too, to show
/// what the transport and the garbage collector cost without the SDK.
/// </summary>
public static class SoakRun
{
    private const string ResultPrefix = "SOAK-RESULT ";

    /// <summary>Runs in this process; prints one result line per batch size for a parent to collect.</summary>
    public static async Task<List<SoakResult>> RunHereAsync(Variant client, BenchTransport transport, IReadOnlyList<int> sizes, long bytes, TextWriter log)
    {
        var results = new List<SoakResult>();
        await using var worker = await ReferenceWorker.StartAsync(transport).ConfigureAwait(false);
        foreach (var size in sizes)
        {
            using var clients = ClientSet.Create(worker, size);
            var batch = ThroughputSuite.NewBatch(size);
            var count = Math.Max(1, bytes / size);

            // A short warm-up so JIT and pools are not what the peak measures.
            await RunAsync(clients, client, batch, Math.Min(count, 16)).ConfigureAwait(false);
            ThroughputSuite.Settle();
            var gen2 = GC.CollectionCount(2);
            using var meter = RunMeter.Start(worker.Process.Id);
            var totals = await RunAsync(clients, client, batch, count).ConfigureAwait(false);
            var sample = meter.Stop(totals);
            var peakSinceStart = ProcStatus.SelfPeakWorkingSetSinceStart();
            ThroughputSuite.Settle();
            var result = new SoakResult
            {
                Client = client switch { Variant.Sdk => "sdk", Variant.SdkPooled => "sdk pooled", _ => "hand-written" },
                Transport = transport.ToString().ToLowerInvariant(),
                BatchSize = size,
                Bytes = totals.Bytes,
                Batches = totals.Batches,
                Seconds = sample.Seconds,
                PeakWorkingSet = sample.PeakWorkingSet,
                PeakWorkingSetSinceStart = peakSinceStart,
                PeakGcHeap = sample.PeakGcHeap,
                GcHeapAfter = GC.GetTotalMemory(false),
                WorkerPeakWorkingSet = worker.PeakWorkingSet,
                Gen2 = GC.CollectionCount(2) - gen2,
            };
            results.Add(result);
            log.WriteLine(
                $"soak {result.Client} {result.Transport} {Format.Size(size)} x {result.Batches}: {Format.Size(result.Bytes)} in {result.Seconds:0.0} s ({result.MBps:0} MB/s); " +
                $"peak working set {Format.MiB(result.PeakWorkingSet)} (since start {Format.MiB(result.PeakWorkingSetSinceStart)}), peak GC heap {Format.MiB(result.PeakGcHeap)}, worker peak {Format.MiB(result.WorkerPeakWorkingSet)}");
            Console.Out.WriteLine(ResultPrefix + JsonSerializer.Serialize(result));
        }

        return results;
    }

    /// <summary>Runs each client and batch size in a fresh copy of this executable and collects the results.</summary>
    public static async Task<List<SoakResult>> RunInChildrenAsync(BenchTransport transport, IReadOnlyList<int> sizes, long bytes, TextWriter log)
    {
        var results = new List<SoakResult>();
        foreach (var size in sizes)
        {
            foreach (var client in new[] { Variant.Sdk, Variant.SdkPooled, Variant.HandSdkTransport })
            {
                results.AddRange(await RunInChildAsync(client, transport, size, bytes, log).ConfigureAwait(false));
            }
        }

        return results;
    }

    private static Task<EchoTotals> RunAsync(ClientSet clients, Variant client, ReadOnlyMemory<byte> batch, long count) => client switch
    {
        Variant.Sdk => EchoLoops.SdkAsync(clients.Sdk, batch, count),
        Variant.SdkPooled => EchoLoops.SdkPooledAsync(clients.Sdk, batch, count),
        _ => EchoLoops.HandWrittenAsync(clients.HandSdkTransport, batch, count),
    };

    private static async Task<List<SoakResult>> RunInChildAsync(Variant client, BenchTransport transport, int size, long bytes, TextWriter log)
    {
        var info = SelfStartInfo();
        info.ArgumentList.Add("soak");
        info.ArgumentList.Add("--soak-client");
        info.ArgumentList.Add(client switch { Variant.Sdk => "sdk", Variant.SdkPooled => "pooled", _ => "hand" });
        info.ArgumentList.Add("--transports");
        info.ArgumentList.Add(transport.ToString().ToLowerInvariant());
        info.ArgumentList.Add("--soak-sizes");
        info.ArgumentList.Add(size.ToString(CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--soak-bytes");
        info.ArgumentList.Add(bytes.ToString(CultureInfo.InvariantCulture));
        info.RedirectStandardOutput = true;
        info.UseShellExecute = false;

        using var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start the soak process.");
        var results = new List<SoakResult>();
        while (await process.StandardOutput.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            if (line.StartsWith(ResultPrefix, StringComparison.Ordinal))
            {
                results.Add(JsonSerializer.Deserialize<SoakResult>(line[ResultPrefix.Length..])!);
            }
            else
            {
                log.WriteLine(line);
            }
        }

        await process.WaitForExitAsync().ConfigureAwait(false);

        // Exit code 1 only says the limit was exceeded; the result says by how much.
        if (results.Count == 0)
        {
            throw new InvalidOperationException($"The soak process exited with code {process.ExitCode} without a result.");
        }

        return results;
    }

    private static ProcessStartInfo SelfStartInfo()
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("The harness's own executable path is unknown.");
        var info = new ProcessStartInfo(host);
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            info.ArgumentList.Add(typeof(SoakRun).Assembly.Location);
        }

        return info;
    }
}
