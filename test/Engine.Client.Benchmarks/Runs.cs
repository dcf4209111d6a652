using Engine.Client.Benchmarks.Harness;
using Engine.Client.Benchmarks.Reporting;

namespace Engine.Client.Benchmarks;

/// <summary>The end-to-end modes.</summary>
public static class Runs
{
    /// <summary>The engine process's peak working set must stay under this while streaming through one session.</summary>
    public const long SoakLimit = 300L * 1024 * 1024;

    /// <summary>Throughput, churn and the one-session memory run; writes the JSON and Markdown results.</summary>
    public static async Task<int> EndToEndAsync(BenchOptions options, string command)
    {
        var report = NewReport(options, command);
        var log = Console.Out;
        var startLoad = report.Machine.LoadAverage;

        if (!options.SkipSoak)
        {
            // First, and in a fresh process: its peak must not include this process's earlier runs.
            log.WriteLine($"== one session, {Format.Size(options.SoakBytes)} ==");
            report.Soak.AddRange(await SoakRun.RunInChildrenAsync(options.Transports[0], options.SoakBatchSizes, options.SoakBytes, log));
        }

        if (!options.SkipThroughput)
        {
            log.WriteLine("== throughput ==");
            var cells = await ThroughputSuite.RunAsync(ThroughputSettingsOf(options), log);
            report.Throughput.AddRange(cells.Select(ThroughputEntry.From));
        }

        if (!options.SkipChurn)
        {
            log.WriteLine("== session churn ==");
            var cells = await ChurnSuite.RunAsync(options.Transports, ChurnBlocks(options), ChurnBlockSize(options), log);
            report.Churn.AddRange(cells.Select(ChurnEntry.From));
        }

        report.Machine.LoadAverage = startLoad + " / " + MachineInfo.LoadAverage1();
        Write(report, options, "e2e", log);
        return 0;
    }

    public static async Task<int> ThroughputAsync(BenchOptions options, string command)
    {
        var report = NewReport(options, command);
        var cells = await ThroughputSuite.RunAsync(ThroughputSettingsOf(options), Console.Out);
        report.Throughput.AddRange(cells.Select(ThroughputEntry.From));
        Write(report, options, "throughput", Console.Out);
        return 0;
    }

    public static async Task<int> ChurnAsync(BenchOptions options, string command)
    {
        var report = NewReport(options, command);
        var cells = await ChurnSuite.RunAsync(options.Transports, ChurnBlocks(options), ChurnBlockSize(options), Console.Out);
        report.Churn.AddRange(cells.Select(ChurnEntry.From));
        Write(report, options, "churn", Console.Out);
        return 0;
    }

    public static async Task<int> SoakAsync(BenchOptions options)
    {
        var results = await SoakRun.RunHereAsync(options.SoakClient, options.Transports[0], options.SoakBatchSizes, options.SoakBytes, Console.Error);
        return results.All(r => r.PeakWorkingSetSinceStart < SoakLimit) ? 0 : 1;
    }

    /// <summary>The long fuzzing run; see <see cref="FuzzRun"/>.</summary>
    public static Task<int> FuzzAsync(BenchOptions options, string command) =>
        FuzzRun.RunAsync(options.Transports[0], options.FuzzFirstSeed, options.FuzzSeeds, options.FuzzParallelism, OutputDirectory(options), command, Console.Out);

    public static async Task<int> TransportAsync(BenchOptions options, string command)
    {
        var sizes = options.BatchSizes.Where(s => s >= 64 * 1024).ToArray();
        var settings = TransportSweep.DefaultSettings().Where(s => options.SweepSide == "all" || s.Group == options.SweepSide).ToArray();
        var cells = await TransportSweep.RunAsync(options.Transports, sizes, settings, null, options.Repetitions, options.Scale, Console.Out);
        var markdown = TransportSweep.ToMarkdown(cells, MachineInfo.Capture(), command, options.Repetitions);
        var directory = OutputDirectory(options);
        var path = Path.Combine(directory, "transport-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", System.Globalization.CultureInfo.InvariantCulture) + ".md");
        await File.WriteAllTextAsync(path, markdown);
        Console.WriteLine();
        Console.WriteLine(markdown);
        Console.WriteLine($"written: {path}");
        return 0;
    }

    private static ThroughputSettings ThroughputSettingsOf(BenchOptions options) => new()
    {
        Transports = options.Transports,
        BatchSizes = options.BatchSizes,
        Repetitions = options.Repetitions,
        Scale = options.Scale,
    };

    private static int ChurnBlocks(BenchOptions options) => Math.Max(2, options.Repetitions * 2);

    private static int ChurnBlockSize(BenchOptions options) => Math.Max(20, (int)(500 * options.Scale));

    private static BenchReport NewReport(BenchOptions options, string command) => new()
    {
        Machine = MachineInfo.Capture(),
        Command = command,
        Repetitions = options.Repetitions,
        Scale = options.Scale,
        SdkTransport = TransportDefaults.Of(ClientSet.SdkOptions()),
    };

    private static void Write(BenchReport report, BenchOptions options, string name, TextWriter log)
    {
        var directory = OutputDirectory(options);
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", System.Globalization.CultureInfo.InvariantCulture);
        var json = report.ToJson();
        var markdown = report.ToMarkdown();
        var jsonPath = Path.Combine(directory, $"{name}-{stamp}.json");
        var markdownPath = Path.Combine(directory, $"{name}-{stamp}.md");
        File.WriteAllText(jsonPath, json);
        File.WriteAllText(markdownPath, markdown);
        File.WriteAllText(Path.Combine(directory, $"{name}-latest.json"), json);
        File.WriteAllText(Path.Combine(directory, $"{name}-latest.md"), markdown);
        log.WriteLine();
        log.WriteLine(markdown);
        log.WriteLine($"written: {jsonPath}");
        log.WriteLine($"written: {markdownPath}");
    }

    /// <summary><c>--out</c>, or <c>artifacts/bench</c> under the repository (found from the working directory up).</summary>
    public static string OutputDirectory(BenchOptions options)
    {
        var directory = options.OutputDirectory ?? Path.Combine(RepositoryRoot() ?? Directory.GetCurrentDirectory(), "artifacts", "bench");
        Directory.CreateDirectory(directory);
        return directory;
    }

    public static string? RepositoryRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Engine.Client.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        return null;
    }
}
