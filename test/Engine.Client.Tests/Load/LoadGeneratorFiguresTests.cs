using System.Diagnostics;
using System.Text;
using Engine.Client.Load;
using Engine.Client.Tests.Infrastructure;
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

    /// <summary>
    /// A last sample of 10 ms (the run's end cuts its interval short) at 80%: the CPU clock's coarse
    /// steps, not a busy second. The busiest interval stays the 1-second one at 20%, and no
    /// "95% in a second" warning is given; the mean still counts the short sample, by its length.
    /// (It used to be the max: 50 to 85% reported against intervals of at most 31%.)
    /// </summary>
    [Test]
    public void A_last_sample_of_a_few_milliseconds_does_not_set_the_busiest_interval()
    {
        const int cores = 2;
        var second = Stopwatch.Frequency;
        long now = 0;
        var cpu = TimeSpan.Zero;
        var monitor = new GeneratorMonitor(() => now, () => cpu, cores);
        now += second;
        cpu += TimeSpan.FromSeconds(0.2 * cores);
        monitor.Next();
        now += second / 100;
        cpu += TimeSpan.FromSeconds(0.99 * cores / 100);
        monitor.Next();

        var figures = monitor.Figures("host", default, LoadModelKind.Closed);

        Assert.Multiple(() =>
        {
            Assert.That(figures.CpuPercentMax, Is.EqualTo(20));
            Assert.That(figures.CpuPercentMean, Is.LessThanOrEqualTo(figures.CpuPercentMax));
            Assert.That(figures.Warnings, Is.Empty);
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

    /// <summary>
    /// Starts ran behind schedule because they waited for a slot under the cap on sessions in
    /// flight, the generator at 28% of its cores: the warning names the cap, its value and its
    /// option, and does not blame the generator.
    /// </summary>
    [Test]
    public void Starts_behind_schedule_at_a_reached_cap_are_blamed_on_the_cap_not_the_generator()
    {
        var monitor = OneSecondAt(0.28);
        var counters = new LoadCounters.Snapshot(Started: 40, 24, 0, 0, NotStarted: 0, BehindSchedule: 16, 2, 0, 0, 0, 0, 0, 0, 0, CapReached: 16);

        var warning = monitor.Figures("host", counters, LoadModelKind.Open, maxInFlight: 2).Warnings.Single();

        Assert.Multiple(() =>
        {
            Assert.That(warning, Does.StartWith("16 of 40 starts ran behind schedule"));
            Assert.That(warning, Does.Contain("cap on sessions in flight reached (--max-in-flight 2)"));
            Assert.That(warning, Does.Not.Contain("generator could not keep"));
        });
    }

    /// <summary>
    /// Behind schedule with the cap reached and the generator at 97% of its cores: the generator is
    /// named first (sessions it had queued but not run held the slots), the cap as well, and the
    /// workers are not blamed. The cap used to be named alone, as the workers' doing.
    /// </summary>
    [Test]
    public void Starts_behind_schedule_at_a_reached_cap_with_a_busy_generator_name_the_generator_first()
    {
        var monitor = OneSecondAt(0.97);
        var counters = new LoadCounters.Snapshot(Started: 40, 24, 0, 0, NotStarted: 0, BehindSchedule: 16, 2, 0, 0, 0, 0, 0, 0, 0, CapReached: 1);

        var figures = monitor.Figures("host", counters, LoadModelKind.Open, maxInFlight: 2);
        var warning = figures.Warnings.Single(w => w.Contains("behind schedule", StringComparison.Ordinal));

        Assert.Multiple(() =>
        {
            Assert.That(warning, Does.Contain("the generator was busy"));
            Assert.That(warning, Does.Contain("1 start also waited for a slot under the cap on sessions in flight (--max-in-flight 2)"));
            Assert.That(warning, Does.Not.Contain("the workers did not end sessions"));
        });
    }

    /// <summary>Behind schedule without the cap reached, the generator at 97%: the generator is named, with its figures.</summary>
    [Test]
    public void Starts_behind_schedule_with_a_busy_generator_and_no_cap_reached_are_blamed_on_the_generator()
    {
        var monitor = OneSecondAt(0.97);
        var counters = new LoadCounters.Snapshot(Started: 40, 24, 0, 0, NotStarted: 0, BehindSchedule: 16, 2, 0, 0, 0, 0, 0, 0, 0, CapReached: 0);

        var warning = monitor.Figures("host", counters, LoadModelKind.Open, maxInFlight: 2).Warnings.Single(w => w.Contains("behind schedule", StringComparison.Ordinal));

        Assert.Multiple(() =>
        {
            Assert.That(warning, Does.Contain("the generator was busy (CPU mean 97%, max 97% of 2 cores"));
            Assert.That(warning, Does.Not.Contain("--max-in-flight"));
        });
    }

    /// <summary>
    /// A real run: 200 ms sessions at 20 per second under a cap of 2 in flight. Most starts wait for
    /// a slot; the run records it and the warning names the cap, not the generator.
    /// </summary>
    [Test]
    public async Task A_real_run_at_a_saturated_cap_names_the_cap_in_its_behind_schedule_warning()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Open,
            Target = 20,

            // A warm-up first, so that the worker's first sessions (slow on a loaded machine) do
            // not hold both slots for the whole measured time, leaving starts not made instead of late.
            Warmup = TimeSpan.FromSeconds(1),
            Duration = TimeSpan.FromSeconds(3),
            MaxInFlight = 2,
            SessionOptions = TaskTimeouts.HugeTimeouts(),
            Seed = 1,
        };
        options.Scenarios.Add(new LoadScenario("builtin", "builtin", Encoding.UTF8.GetBytes("delay 200ms; select x"))
        {
            Input = LoadInput.Generate(LoadInput.ParseColumns("x:int64"), rows: 10, batchRows: null, batches: 1),
        });

        var result = await LoadTest.RunAsync(client, options).WaitAsync(TimeSpan.FromMinutes(2));

        var s = result.Sessions;
        var warning = result.Generators.Single().Warnings.SingleOrDefault(w => w.Contains("behind schedule", StringComparison.Ordinal));
        Assert.That(warning ?? "no behind-schedule warning", Does.Contain("(--max-in-flight 2)").And.Not.Contain("generator could not keep"),
            $"started {s.Started}, behind {s.BehindSchedule}, not started {s.NotStarted}, finished {s.Finished}, failed {s.FailedTotal}; {string.Join(" | ", result.Generators.Single().Warnings)}");
    }

    /// <summary>
    /// Starts not made because they waited for a slot under the cap until the schedule ended: a
    /// warning of their own, naming the cap and its value, though no start ran behind schedule.
    /// Starts an interrupt kept from being made (not at the cap) get none.
    /// </summary>
    [Test]
    public void Starts_not_made_at_a_reached_cap_are_named_in_a_warning_of_their_own()
    {
        long now = 0;
        var monitor = new GeneratorMonitor(() => now, () => TimeSpan.Zero, 2);
        now += Stopwatch.Frequency;
        monitor.Next();
        var atCap = new LoadCounters.Snapshot(Started: 1, 0, 0, 0, NotStarted: 39, BehindSchedule: 0, 1, 0, 0, 0, 0, 0, 0, 0, CapReached: 1, NotStartedAtCap: 39);
        var interrupted = atCap with { NotStartedAtCap = 0 };

        var warnings = monitor.Figures("host", atCap, LoadModelKind.Open, maxInFlight: 1).Warnings;
        var none = monitor.Figures("host", interrupted, LoadModelKind.Open, maxInFlight: 1).Warnings;

        Assert.Multiple(() =>
        {
            Assert.That(warnings.SingleOrDefault(w => w.Contains("not made", StringComparison.Ordinal)) ?? string.Join(" | ", warnings),
                Does.StartWith("39 of 40 due starts were not made").And.Contain("cap on sessions in flight (--max-in-flight 1)"));
            Assert.That(none, Has.None.Contains("not made"));
        });
    }

    /// <summary>
    /// A real run against a stalled session: a cap of 1, the first session holding its slot beyond
    /// the schedule's end, 20 starts a second for 2 s. No start runs late, none of the others runs at
    /// all: the run counts them as not started and its warning says the cap held them.
    /// </summary>
    [Test]
    public async Task A_real_run_whose_starts_all_wait_behind_a_held_slot_names_the_cap_in_a_warning()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Open,
            Target = 20,
            Duration = TimeSpan.FromSeconds(2),
            MaxInFlight = 1,

            // The held session is abandoned at the drain limit, so the run ends soon after the schedule.
            DrainTimeout = TimeSpan.FromMilliseconds(200),
            SessionOptions = TaskTimeouts.HugeTimeouts(),
            Seed = 1,
        };
        options.Scenarios.Add(new LoadScenario("builtin", "builtin", Encoding.UTF8.GetBytes("delay 60s; select x"))
        {
            Input = LoadInput.Generate(LoadInput.ParseColumns("x:int64"), rows: 10, batchRows: null, batches: 1),
        });

        var result = await LoadTest.RunAsync(client, options).WaitAsync(TimeSpan.FromMinutes(2));

        var s = result.Sessions;
        var warnings = result.Generators.Single().Warnings;
        Assert.Multiple(() =>
        {
            Assert.That(s.Started, Is.EqualTo(1), "the one start that took the only slot");
            Assert.That(s.NotStarted, Is.EqualTo(39), "the other starts due in 2 s at 20/s");
            Assert.That(warnings.SingleOrDefault(w => w.Contains("not made", StringComparison.Ordinal)) ?? string.Join(" | ", warnings),
                Does.StartWith("39 of 40 due starts were not made").And.Contain("(--max-in-flight 1)"));
        });
    }

    /// <summary>
    /// 32 MiB allocated and a collection after the last interval closed (building the result
    /// allocates its histograms' copies): the run's allocation rate and GC pause are the
    /// intervals' ones over the intervals' time, as the CPU mean is, not the figures to the moment
    /// the result is built (which were 20-45% above the intervals').
    /// </summary>
    [Test]
    public void The_allocation_rate_and_gc_pause_cover_the_sampled_intervals_only()
    {
        var second = Stopwatch.Frequency;
        long now = 0;
        var cpu = TimeSpan.Zero;
        var monitor = new GeneratorMonitor(() => now, () => cpu, 2);
        now += second;
        var sample = monitor.Next();

        now += second;
        var garbage = new byte[32 << 20];
        GC.KeepAlive(garbage);
        GC.Collect(0, GCCollectionMode.Forced, blocking: true);
        var figures = monitor.Figures("host", default, LoadModelKind.Closed);

        Assert.Multiple(() =>
        {
            Assert.That(figures.AllocatedBytesPerSecond, Is.EqualTo(Math.Round(sample.AllocatedBytes / 1.0)), "the one interval's bytes over its one second");
            Assert.That(figures.GcPauseMilliseconds, Is.EqualTo(Math.Round(sample.GcPauseMilliseconds, 3)));
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

    /// <summary>A monitor of a 2-core generator after one interval of a second at <paramref name="cpuShare"/> of its cores.</summary>
    private static GeneratorMonitor OneSecondAt(double cpuShare)
    {
        long now = 0;
        var cpu = TimeSpan.Zero;
        var monitor = new GeneratorMonitor(() => now, () => cpu, 2);
        now += Stopwatch.Frequency;
        cpu += TimeSpan.FromSeconds(cpuShare * 2);
        monitor.Next();
        return monitor;
    }
}
