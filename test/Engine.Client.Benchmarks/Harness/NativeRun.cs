using System.Diagnostics;
using System.Globalization;
using System.Text;
using Engine.Client.Benchmarks.Reporting;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>
/// The comparison with a native engine: the native gRPC C++ echo client (test/Engine.Client.Benchmarks/Native),
/// the hand-written Grpc.Net.Client loop, the SDK (its <c>ReadOnlyMemory</c> output and its pooled
/// output) and the raw HTTP/2 ceiling (<see cref="RawHttp2Echo"/>), back to back in every repetition
/// against one worker; once against the native echo worker and once against the reference worker.
/// Every figure is reported as a ratio to the native client and to the hand-written loop, each the
/// median of the per-repetition ratios of runs adjacent in time.
/// </summary>
public static class NativeRun
{
    /// <summary>The clients, in the order they run within a repetition.</summary>
    public static readonly string[] Clients = ["native C++", "hand-written .NET", "SDK", "SDK pooled", "raw HTTP/2 (.NET ceiling)"];

    public static async Task<int> RunAsync(BenchOptions options, string command, string outputDirectory, TextWriter log)
    {
        var binaries = await NativeBinaries.EnsureAsync(log).ConfigureAwait(false);
        var load = MachineInfo.LoadAverage1();
        var cells = new List<Cell>();
        foreach (var transport in options.Transports)
        {
            foreach (var (workerName, executable) in new[] { ("native C++", binaries.Worker), ("reference (.NET)", (string?)null) })
            {
                await using var worker = await ReferenceWorker.StartAsync(transport, executable: executable).ConfigureAwait(false);
                using var clients = ClientSet.Create(worker, options.BatchSizes.Max());
                using var raw = new RawHttp2Echo(worker);
                var target = worker.SocketPath is { } path ? "unix://" + path : "127.0.0.1:" + worker.Port!.Value.ToString(CultureInfo.InvariantCulture);
                foreach (var size in options.BatchSizes)
                {
                    var batch = new byte[size];
                    Random.Shared.NextBytes(batch);
                    var count = Math.Max(4, (long)(BytesPerRun(size) * options.Scale) / size);
                    var cell = new Cell(transport, workerName, size.ToString(CultureInfo.InvariantCulture), "MB/s", size * count / 1048576.0);
                    var pid = worker.Process.Id;
                    var runs = new Func<Task<Sample>>[]
                    {
                        () => MeasureAsync(pid, async () => await NativeClientAsync(binaries.Client, target, "throughput", size, count).ConfigureAwait(false)),
                        () => MeasureAsync(pid, () => TimedAsync(size * count, () => EchoLoops.HandWrittenAsync(clients.HandSdkTransport, batch, count))),
                        () => MeasureAsync(pid, () => TimedAsync(size * count, () => EchoLoops.SdkAsync(clients.Sdk, batch, count))),
                        () => MeasureAsync(pid, () => TimedAsync(size * count, () => EchoLoops.SdkPooledAsync(clients.Sdk, batch, count))),
                        () => MeasureAsync(pid, () => TimedAsync(size * count, () => raw.EchoAsync(batch, count))),
                    };
                    await RepeatAsync(cell, runs, options.Repetitions, warmUp: true).ConfigureAwait(false);
                    cells.Add(cell);
                    log.WriteLine(cell.Summary());
                }

                if (!options.SkipChurn)
                {
                    var batch = new byte[1024];
                    var sessions = Math.Max(20, (int)(500 * options.Scale));
                    var cell = new Cell(transport, workerName, "churn", "sessions/s", sessions);
                    var pid = worker.Process.Id;
                    var runs = new Func<Task<Sample>>[]
                    {
                        () => MeasureAsync(pid, async () =>
                        {
                            var (mbps, cpu) = await NativeClientAsync(binaries.Client, target, "churn", 1024, sessions).ConfigureAwait(false);
                            return (mbps / 1024 * 1e6, cpu);
                        }),
                        () => MeasureAsync(pid, () => SessionsPerSecondAsync(sessions, () => EchoLoops.HandWrittenShortAsync(clients.HandSdkTransport, batch))),
                        () => MeasureAsync(pid, () => SessionsPerSecondAsync(sessions, () => EchoLoops.SdkShortAsync(clients.Sdk, batch))),
                        () => MeasureAsync(pid, () => SessionsPerSecondAsync(sessions, () => EchoLoops.SdkPooledShortAsync(clients.Sdk, batch))),
                    };
                    await RepeatAsync(cell, runs, options.Repetitions, warmUp: true).ConfigureAwait(false);
                    cells.Add(cell);
                    log.WriteLine(cell.Summary());
                }
            }
        }

        var markdown = ToMarkdown(cells, command, options.Repetitions, load + " / " + MachineInfo.LoadAverage1());
        var file = Path.Combine(outputDirectory, "native-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + ".md");
        await File.WriteAllTextAsync(file, markdown).ConfigureAwait(false);
        await File.WriteAllTextAsync(Path.Combine(outputDirectory, "native-latest.md"), markdown).ConfigureAwait(false);
        log.WriteLine();
        log.WriteLine(markdown);
        log.WriteLine($"written: {file}");
        return 0;
    }

    /// <summary>Payload per throughput run: a fraction of a second per client here.</summary>
    private static long BytesPerRun(int batchSize) => batchSize <= 4096 ? 8L << 20 : 96L << 20;

    /// <summary>One run: its figure, the engine's CPU (this process's, or the native client's own) and the worker's, in seconds.</summary>
    private readonly record struct Sample(double Value, double EngineCpu, double WorkerCpu);

    private static async Task<Sample> MeasureAsync(int workerPid, Func<Task<double>> run) =>
        await MeasureAsync(workerPid, async () => (await run().ConfigureAwait(false), (double?)null)).ConfigureAwait(false);

    private static async Task<Sample> MeasureAsync(int workerPid, Func<Task<(double Value, double? OwnCpu)>> run)
    {
        var worker = RunTime(workerPid);
        var engine = RunTime(Environment.ProcessId);
        var (value, ownCpu) = await run().ConfigureAwait(false);
        var engineCpu = ownCpu ?? RunTime(Environment.ProcessId) - engine;
        return new Sample(value, engineCpu, RunTime(workerPid) - worker);
    }

    /// <summary>
    /// Seconds a process's threads ran on a CPU, summed from <c>/proc/&lt;pid&gt;/task/*/schedstat</c>
    /// (nanoseconds, where <c>/proc/&lt;pid&gt;/stat</c> counts 10 ms ticks); exited threads are not
    /// counted, so it is meant for deltas over a run of long-lived threads.
    /// </summary>
    private static double RunTime(int pid)
    {
        long nanos = 0;
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/task"))
            {
                try
                {
                    var text = File.ReadAllText(Path.Combine(task, "schedstat"));
                    nanos += long.Parse(text.AsSpan(0, text.IndexOf(' ')), CultureInfo.InvariantCulture);
                }
                catch (IOException)
                {
                    // The thread exited meanwhile.
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ProcStatus.CpuTime(pid).TotalSeconds;
        }

        return nanos / 1e9;
    }

    private static async Task RepeatAsync(Cell cell, Func<Task<Sample>>[] runs, int repetitions, bool warmUp)
    {
        if (warmUp)
        {
            foreach (var run in runs)
            {
                await run().ConfigureAwait(false);
            }
        }

        for (var rep = 0; rep < repetitions; rep++)
        {
            var values = new Sample[runs.Length];
            for (var i = 0; i < runs.Length; i++)
            {
                values[i] = await runs[i]().ConfigureAwait(false);
            }

            cell.Add(values);
        }
    }

    /// <summary>Units per second (MB/s when the units are bytes: 1 MB = 10^6 bytes).</summary>
    private static Task<double> TimedAsync<T>(long bytes, Func<Task<T>> run) => TimedAsync(bytes, async () => { await run().ConfigureAwait(false); });

    private static async Task<double> TimedAsync(long bytes, Func<Task> run)
    {
        var watch = Stopwatch.StartNew();
        await run().ConfigureAwait(false);
        return bytes / watch.Elapsed.TotalSeconds / 1e6;
    }

    private static async Task<double> SessionsPerSecondAsync(int sessions, Func<Task> session)
    {
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < sessions; i++)
        {
            await session().ConfigureAwait(false);
        }

        return sessions / watch.Elapsed.TotalSeconds;
    }

    /// <summary>Runs the native client; its own clock times the measured part (not its start or connect). MB/s of payload.</summary>
    private static async Task<(double Value, double? OwnCpu)> NativeClientAsync(string client, string target, string mode, int size, long count)
    {
        var info = new ProcessStartInfo(client) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { target, mode, size.ToString(CultureInfo.InvariantCulture), count.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("The native client did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"The native client failed ({process.ExitCode}): {await error.ConfigureAwait(false)}");
        }

        var fields = (await output.ConfigureAwait(false)).Trim().Split(' ').Select(f => f.Split('=')).ToDictionary(f => f[0], f => double.Parse(f[1], CultureInfo.InvariantCulture));
        return (fields["bytes"] / fields["seconds"] / 1e6, fields["cpu"]);
    }

    private static string ToMarkdown(List<Cell> cells, string command, int repetitions, string load)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Command: `{command}`; {repetitions} repetitions; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; load average (1 min) at start / end: {load}.");
        text.AppendLine();
        text.AppendLine("Medians. MB/s of payload echoed (or sessions/s for churn); a ratio is the median of the per-repetition ratios, interquartile range in brackets.");
        text.AppendLine();
        text.AppendLine("| transport | worker | batch | native C++ | hand-written .NET | SDK | SDK pooled | raw HTTP/2 | SDK / native | SDK / hand | SDK pooled / native | SDK pooled / hand | hand / native | raw HTTP/2 / native |");
        text.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var cell in cells)
        {
            text.AppendLine(cell.Row());
        }

        text.AppendLine();
        text.AppendLine("CPU per MiB echoed (throughput) or per session (churn), in microseconds, medians: the engine (this process for the .NET clients, the native client's own) / the worker.");
        text.AppendLine();
        text.AppendLine("| transport | worker | batch | native C++ | hand-written .NET | SDK | SDK pooled | raw HTTP/2 |");
        text.AppendLine("|---|---|---|---:|---:|---:|---:|---:|");
        foreach (var cell in cells)
        {
            text.AppendLine(cell.CpuRow());
        }

        return text.ToString();
    }

    private sealed class Cell(BenchTransport transport, string worker, string batch, string unit, double unitsPerRun)
    {
        private readonly List<Sample[]> _repetitions = [];

        public void Add(Sample[] values) => _repetitions.Add(values);

        public string CpuRow()
        {
            var columns = _repetitions[0].Length;
            string Cpu(int i) => i < columns
                ? Format.Number(Stats.Median(_repetitions.Select(r => r[i].EngineCpu * 1e6 / unitsPerRun)), "0") + " / " + Format.Number(Stats.Median(_repetitions.Select(r => r[i].WorkerCpu * 1e6 / unitsPerRun)), "0")
                : "—";
            return $"| {transport.ToString().ToLowerInvariant()} | {worker} | {BatchLabel} | {Cpu(0)} | {Cpu(1)} | {Cpu(2)} | {Cpu(3)} | {Cpu(4)} |";
        }

        public string Summary() => $"{transport.ToString().ToLowerInvariant()} {worker} {BatchLabel} ({unit}): " +
            string.Join(", ", Enumerable.Range(0, _repetitions[0].Length).Select(i => $"{Clients[i]} {Format.Number(Median(i), "0.0")}"));

        public string Row()
        {
            var columns = _repetitions[0].Length;
            string Value(int i) => i < columns ? Format.Number(Median(i), "0.0") : "—";
            string Ratio(int a, int b) => a < columns && b < columns ? RatioText(a, b) : "—";
            return $"| {transport.ToString().ToLowerInvariant()} | {worker} | {BatchLabel} | {Value(0)} | {Value(1)} | {Value(2)} | {Value(3)} | {Value(4)} | " +
                $"{Ratio(2, 0)} | {Ratio(2, 1)} | {Ratio(3, 0)} | {Ratio(3, 1)} | {Ratio(1, 0)} | {Ratio(4, 0)} |";
        }

        private string BatchLabel => batch == "churn" ? "sessions (open, Init, 1 KiB, Finish)" : Format.Size(int.Parse(batch, CultureInfo.InvariantCulture));

        private double Median(int i) => Stats.Median(_repetitions.Select(r => r[i].Value));

        private string RatioText(int a, int b)
        {
            var ratios = _repetitions.Select(r => r[a].Value / r[b].Value).ToArray();
            return $"{Format.Number(Stats.Median(ratios), "0.00")} ({Format.Number(Stats.Percentile(ratios, 25), "0.00")}-{Format.Number(Stats.Percentile(ratios, 75), "0.00")})";
        }
    }
}

/// <summary>The native echo worker and client, built from source by Native/build.sh into artifacts/native.</summary>
public sealed record NativeBinaries(string Worker, string Client)
{
    /// <summary>The native worker's executable when asked for, built first; null for the reference worker.</summary>
    public static async Task<string?> WorkerOrDefaultAsync(bool native, TextWriter log) =>
        native ? (await EnsureAsync(log).ConfigureAwait(false)).Worker : null;

    public static async Task<NativeBinaries> EnsureAsync(TextWriter log)
    {
        var root = Runs.RepositoryRoot() ?? throw new InvalidOperationException("The repository (Engine.Client.sln) was not found from here; run the harness from the repository.");
        var script = Path.Combine(root, "test", "Engine.Client.Benchmarks", "Native", "build.sh");
        var output = Path.Combine(root, "artifacts", "native");
        log.WriteLine($"building the native echo worker and client ({script})...");
        var info = new ProcessStartInfo("/bin/sh") { ArgumentList = { script, output }, UseShellExecute = false };
        using var process = Process.Start(info) ?? throw new InvalidOperationException("sh did not start.");
        await process.WaitForExitAsync().ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{script} failed ({process.ExitCode}); it needs Debian's libgrpc++-dev, protobuf-compiler-grpc, g++ and pkg-config (`dotnet cake --target=Bench` installs them).");
        }

        return new NativeBinaries(Path.Combine(output, "echo_worker"), Path.Combine(output, "echo_client"));
    }
}
