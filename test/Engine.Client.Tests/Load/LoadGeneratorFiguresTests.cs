using System.Diagnostics;
using Engine.Client.Load;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Load;

/// <summary>
/// The generator's self-check: its mean CPU and its busiest interval come from the same samples,
/// so the mean never exceeds the max.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class LoadGeneratorFiguresTests
{
    /// <summary>
    /// Two intervals at 30% and 20% of the cores, then work after the last sample (building the
    /// result costs CPU too): the mean is that of the two intervals, 25%, not one that counts the
    /// work after the last sample and could exceed the busiest interval.
    /// </summary>
    [Test]
    public void The_mean_cpu_covers_the_sampled_intervals_only_and_never_exceeds_the_max()
    {
        const int cores = 2;
        var second = Stopwatch.Frequency;
        long now = 1_000 * second;
        var cpu = TimeSpan.FromSeconds(50);
        var monitor = new GeneratorMonitor(() => now, () => cpu, cores);

        now += second;
        cpu += TimeSpan.FromSeconds(0.3 * cores);
        Assert.That(monitor.Next().CpuPercent, Is.EqualTo(30).Within(1e-9));
        now += second;
        cpu += TimeSpan.FromSeconds(0.2 * cores);
        Assert.That(monitor.Next().CpuPercent, Is.EqualTo(20).Within(1e-9));

        // After the last interval closed: a tenth of a second at 100% of the cores.
        now += second / 10;
        cpu += TimeSpan.FromSeconds(0.1 * cores);
        var figures = monitor.Figures("host", default, LoadModelKind.Closed);

        Assert.Multiple(() =>
        {
            Assert.That(figures.CpuPercentMax, Is.EqualTo(30));
            Assert.That(figures.CpuPercentMean, Is.EqualTo(25));
            Assert.That(figures.CpuPercentMean, Is.LessThanOrEqualTo(figures.CpuPercentMax));
        });
    }

    [Test]
    public void Without_a_sample_the_figures_take_one_so_mean_and_max_agree()
    {
        var second = Stopwatch.Frequency;
        long now = 0;
        var cpu = TimeSpan.Zero;
        var monitor = new GeneratorMonitor(() => now, () => cpu, 4);
        now += 2 * second;
        cpu += TimeSpan.FromSeconds(4);

        var figures = monitor.Figures("host", default, LoadModelKind.Closed);

        Assert.Multiple(() =>
        {
            Assert.That(figures.CpuPercentMean, Is.EqualTo(50));
            Assert.That(figures.CpuPercentMax, Is.EqualTo(50));
        });
    }

    /// <summary>A real run against the reference worker: every generator's mean is at most its max.</summary>
    [Test]
    public async Task A_real_run_reports_a_mean_cpu_no_higher_than_its_max()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var options = new LoadTestOptions { Target = 2, Sessions = 20, Interval = TimeSpan.FromMilliseconds(100) };
        options.Scenarios.Add(new LoadScenario("echo", "echo", ReadOnlyMemory<byte>.Empty)
        {
            Input = LoadInput.Generate(LoadInput.ParseColumns("x:int64"), rows: 1000, batchRows: 100, batches: null),
        });

        var result = await LoadTest.RunAsync(client, options).WaitAsync(TimeSpan.FromMinutes(2));

        var generator = result.Generators.Single();
        Assert.Multiple(() =>
        {
            Assert.That(result.Sessions.Finished, Is.EqualTo(20));
            Assert.That(generator.CpuPercentMean, Is.LessThanOrEqualTo(generator.CpuPercentMax), $"mean {generator.CpuPercentMean}, max {generator.CpuPercentMax}");
        });
    }
}
