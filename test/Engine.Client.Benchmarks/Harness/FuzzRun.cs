using System.Diagnostics;
using System.Globalization;
using System.Text;
using Engine.Client.Benchmarks.Reporting;
using Engine.Client.Fuzzing;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>
/// The long fuzzing run: thousands of seeds of the reference worker's <c>fuzz</c> format against
/// one worker process, each checked against its documented outcome (the table the CI fixture
/// uses), with counts per misbehaviour and outcome.
/// </summary>
public static class FuzzRun
{
    /// <summary>Runs the seeds and writes a Markdown report. Returns 0 when every seed ended as documented and no task exception went unobserved, else 1.</summary>
    public static async Task<int> RunAsync(BenchTransport transport, int firstSeed, int seeds, int parallelism, string directory, string command, TextWriter log)
    {
        var unobserved = 0;
        var unobservedSamples = new List<string>();
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            lock (unobservedSamples)
            {
                unobserved++;
                if (unobservedSamples.Count < 5)
                {
                    unobservedSamples.Add(e.Exception.InnerException?.Message ?? e.Exception.Message);
                }
            }
        }

        TaskScheduler.UnobservedTaskException += OnUnobserved;
        IReadOnlyList<FuzzResult> results;
        TimeSpan elapsed;
        var machine = MachineInfo.Capture();
        try
        {
            await using var worker = await ReferenceWorker.StartAsync(transport);
            using var client = WorkerClient.Create(worker.Address, FuzzRunner.ClientOptions());
            log.WriteLine($"fuzz: seeds {firstSeed} to {firstSeed + seeds - 1}, {parallelism} at a time, over {transport}");
            var done = 0;
            var started = Stopwatch.GetTimestamp();
            results = await FuzzRunner.RunAsync(client, Enumerable.Range(firstSeed, seeds), parallelism, result =>
            {
                if (Interlocked.Increment(ref done) % 500 == 0)
                {
                    log.WriteLine($"  {done} seeds");
                }
            });
            elapsed = Stopwatch.GetElapsedTime(started);
        }
        finally
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }

        machine.LoadAverage += " / " + MachineInfo.LoadAverage1();
        var markdown = ToMarkdown(results, elapsed, unobserved, unobservedSamples, machine, command, transport, parallelism);
        var path = Path.Combine(directory, "fuzz-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + ".md");
        await File.WriteAllTextAsync(path, markdown);
        log.WriteLine();
        log.WriteLine(markdown);
        log.WriteLine($"written: {path}");
        return results.All(r => r.Passed) && unobserved == 0 ? 0 : 1;
    }

    private static string ToMarkdown(
        IReadOnlyList<FuzzResult> results,
        TimeSpan elapsed,
        int unobserved,
        List<string> unobservedSamples,
        MachineInfo machine,
        string command,
        BenchTransport transport,
        int parallelism)
    {
        var failed = results.Where(r => !r.Passed).ToList();
        var text = new StringBuilder();
        text.AppendLine("# Fuzzing run");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"`{command}`: {results.Count} seeds over {transport}, {parallelism} sessions at a time, in {elapsed.TotalSeconds:0.0} s; {machine.Cores} cores ({machine.Cpu}), load {machine.LoadAverage}, {machine.Runtime}.");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture, $"**{results.Count - failed.Count} of {results.Count} seeds ended as documented; {unobserved} unobserved task exceptions.** Slowest seed {results.Max(r => r.Elapsed).TotalSeconds:0.00} s.");
        text.AppendLine();
        text.AppendLine("| misbehaviour | seeds | failed | outcomes (count outcome/exception) |");
        text.AppendLine("|---|---:|---:|---|");
        foreach (var group in results.GroupBy(r => r.Plan.Misbehaviour).OrderBy(g => g.Key))
        {
            var outcomes = string.Join(", ", group.GroupBy(r => r.OutcomeKey).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} {g.Key}"));
            text.AppendLine(CultureInfo.InvariantCulture, $"| {group.Key} | {group.Count()} | {group.Count(r => !r.Passed)} | {outcomes} |");
        }

        if (failed.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("## Failures, by misbehaviour and problem");
            text.AppendLine();
            foreach (var group in failed.GroupBy(r => (r.Plan.Misbehaviour, Problem: Shape(r.Problems[0]))).OrderBy(g => g.Key.Misbehaviour))
            {
                var sample = group.First();
                text.AppendLine(CultureInfo.InvariantCulture, $"- **{group.Key.Misbehaviour}**, {group.Count()} seeds (for example {string.Join(", ", group.Take(5).Select(r => r.Plan.Seed))}): {sample.Problems[0]}");
                text.AppendLine(CultureInfo.InvariantCulture, $"  - expected: {FuzzRunner.DescribeExpected(sample.Expected, sample.Plan)}");
                text.AppendLine(CultureInfo.InvariantCulture, $"  - observed (seed {sample.Plan.Seed}): {sample.Observed}");
            }
        }

        if (unobserved > 0)
        {
            text.AppendLine();
            text.AppendLine("## Unobserved task exceptions (first messages)");
            text.AppendLine();
            foreach (var sample in unobservedSamples)
            {
                text.AppendLine("- " + sample);
            }
        }

        return text.ToString();
    }

    /// <summary>A problem without its numbers and session details, to group alike failures.</summary>
    private static string Shape(string problem)
    {
        var bracket = problem.IndexOf(" (", StringComparison.Ordinal);
        return bracket < 0 ? problem : problem[..bracket];
    }
}
