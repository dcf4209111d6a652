using Engine.Client.Load;
using Engine.Client.Tests.ReferenceWorker;
using HdrHistogram;

namespace Engine.Client.Tests.Load;

/// <summary>
/// What a run records about itself: the start it tells its observer before any interval (the time
/// interval times count from), and a configuration that lists the settings of its own model only.
/// </summary>
[TestFixture]
public sealed class LoadRunRecordTests
{
    private static readonly TimeSpan RunBound = TimeSpan.FromMinutes(3);

    [Test]
    public async Task The_observer_is_told_the_runs_start_once_before_the_first_interval()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var observer = new Recorder();
        var options = Echo(LoadModelKind.Closed, target: 1);
        options.Sessions = 20;
        options.Observer = observer;

        var result = await LoadTest.RunAsync(client, options).WaitAsync(RunBound);

        Assert.That(observer.Calls, Is.Not.Empty);
        Assert.That(observer.Calls[0], Is.EqualTo($"started {result.StartedAt:O}"));
        Assert.That(observer.Calls.Skip(1), Has.All.EqualTo("interval").And.Not.Empty);
    }

    [Test]
    public async Task A_closed_runs_configuration_lists_no_setting_of_the_open_model_and_an_open_runs_lists_them()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var closed = Echo(LoadModelKind.Closed, target: 1);
        closed.Sessions = 2;
        var open = Echo(LoadModelKind.Open, target: 100);
        open.Sessions = 2;
        open.MaxInFlight = 7;
        open.ScheduleTolerance = TimeSpan.FromMilliseconds(25);

        var closedRun = await LoadTest.RunAsync(client, closed).WaitAsync(RunBound);
        var openRun = await LoadTest.RunAsync(client, open).WaitAsync(RunBound);

        Assert.Multiple(() =>
        {
            Assert.That(closedRun.Configuration["model"], Is.EqualTo("closed"));
            Assert.That(closedRun.Configuration, Does.Not.ContainKey("maxInFlight").And.Not.ContainKey("scheduleTolerance"), "a closed loop starts when its session ends: no cap, no schedule");
            Assert.That(openRun.Configuration["maxInFlight"], Is.EqualTo("7"));
            Assert.That(openRun.Configuration["scheduleTolerance"], Is.EqualTo("25 ms"));
        });
    }

    private static LoadTestOptions Echo(LoadModelKind model, double target)
    {
        var options = new LoadTestOptions { Model = model, Target = target, Seed = 1 };
        options.Scenarios.Add(LoadTestScenarios.SmallEcho());
        return options;
    }

    private sealed class Recorder : ILoadObserver
    {
        private readonly List<string> _calls = [];

        public IReadOnlyList<string> Calls
        {
            get
            {
                lock (_calls)
                {
                    return [.. _calls];
                }
            }
        }

        public void OnStarted(DateTimeOffset startedAt)
        {
            lock (_calls)
            {
                _calls.Add($"started {startedAt:O}");
            }
        }

        public void OnInterval(LoadInterval interval, IReadOnlyDictionary<string, HistogramBase> histograms)
        {
            lock (_calls)
            {
                _calls.Add("interval");
            }
        }
    }
}
