using Engine.Client.Load;
using Engine.Client.Tests.ReferenceWorker;
using HdrHistogram;

namespace Engine.Client.Tests.Load;

/// <summary>
/// Waits longer than a .NET timer takes (2^32 - 2 ms, about 49.7 days; longer throws): a schedule
/// of stages that lasts longer, a start weeks away and a drain limit of weeks are waited in pieces,
/// not an <see cref="ArgumentOutOfRangeException"/> (the CLI's exit 70) at the run's start.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class LoadLongWaitTests
{
    private static readonly TimeSpan RunBound = TimeSpan.FromMinutes(3);

    [TestCase(20.0)]
    [TestCase(4e6)] // together longer than a TimeSpan holds
    public async Task A_closed_model_whose_stages_last_longer_than_a_timer_runs_its_sessions(double days)
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var options = Echo(LoadModelKind.Closed);
        var stage = new LoadStage(TimeSpan.FromDays(days), 1);
        options.Stages = [stage, stage, stage];
        options.Sessions = 3;

        var result = await LoadTest.RunAsync(client, options).WaitAsync(RunBound);

        Assert.That(result.Sessions.Finished, Is.EqualTo(3), "the session bound ends the run, weeks before the stages would");
    }

    [Test]
    public async Task A_drain_limit_longer_than_a_timer_is_waited_in_pieces()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var options = Echo(LoadModelKind.Closed);
        options.Target = 1;
        options.Sessions = 2;
        options.DrainTimeout = TimeSpan.FromDays(60);

        var result = await LoadTest.RunAsync(client, options).WaitAsync(RunBound);

        Assert.That(result.Sessions.Finished, Is.EqualTo(2));
    }

    [Test]
    public async Task An_open_model_start_weeks_away_is_waited_for_until_the_run_is_interrupted()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var options = Echo(LoadModelKind.Open);
        options.Target = 0;
        options.Stages = [new LoadStage(TimeSpan.FromDays(60), 0), new LoadStage(TimeSpan.FromSeconds(1), 10)];
        options.Interval = TimeSpan.FromMilliseconds(100);
        var observer = new FirstInterval();
        options.Observer = observer;

        // Interrupted once an interval closed: the scheduler is then waiting for the first start,
        // 60 days away, instead of having failed.
        using var stop = new CancellationTokenSource();
        var run = LoadTest.RunAsync(client, options, stop.Token);
        await Task.WhenAny(observer.Closed.Task, run).WaitAsync(RunBound);
        Assert.That(run.IsFaulted, Is.False, () => $"the run failed: {run.Exception}");
        await stop.CancelAsync();
        var result = await run.WaitAsync(RunBound);

        Assert.Multiple(() =>
        {
            Assert.That(result.Interrupted, Is.True);
            Assert.That(result.Sessions.Started, Is.Zero, "no start is due in the first 60 days");
            Assert.That(result.Errors, Is.Empty);
        });
    }

    [Test]
    public void An_interval_longer_than_a_timer_is_refused_naming_the_bound()
    {
        var options = Echo(LoadModelKind.Closed);
        options.Target = 1;
        options.Sessions = 1;
        options.Interval = TimeSpan.FromDays(60);

        var refused = Assert.Throws<ArgumentException>(options.Validate);

        Assert.That(refused!.Message, Does.Contain("at most 4,294,967 s (about 49.7 days)"));
    }

    private static LoadTestOptions Echo(LoadModelKind model)
    {
        var options = new LoadTestOptions { Model = model, Seed = 1 };
        options.Scenarios.Add(LoadTestScenarios.SmallEcho());
        return options;
    }

    private sealed class FirstInterval : ILoadObserver
    {
        public TaskCompletionSource Closed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnInterval(LoadInterval interval, IReadOnlyDictionary<string, HistogramBase> histograms) => Closed.TrySetResult();
    }
}
