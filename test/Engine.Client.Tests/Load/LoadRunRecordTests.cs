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

    [Test]
    public async Task Messages_that_differ_only_in_the_sessions_number_are_kept_once()
    {
        // Every session fails alike: the SDK's message names each session's number.
        var missing = $"unix://{Path.Combine(Path.GetTempPath(), $"no-worker-{Guid.NewGuid():N}.sock")}";
        using var nobody = WorkerClient.Create(missing);
        var options = Echo(LoadModelKind.Closed, target: 1);
        options.Sessions = 5;

        var result = await LoadTest.RunAsync(nobody, options).WaitAsync(RunBound);

        var unreachable = result.Errors.Single();
        Assert.Multiple(() =>
        {
            Assert.That(unreachable.Count, Is.EqualTo(5));
            Assert.That(unreachable.Messages, Has.Count.EqualTo(1), string.Join("\n", unreachable.Messages));
            Assert.That(unreachable.Messages[0], Does.Contain("session "));
        });

        // A merge keeps them once too, and keeps messages that differ otherwise.
        LoadResult Shard(int index, params string[] messages) => new()
        {
            StartedAt = result.StartedAt, Seconds = result.Seconds, Model = result.Model, Target = result.Target, Shards = [$"{index}/2"],
            Hosts = result.Hosts, Sources = result.Sources, Runs = [$"run{index}"], Sessions = result.Sessions, Latency = result.Latency,
            Traffic = result.Traffic, Workers = result.Workers, Generators = result.Generators, Intervals = result.Intervals, Configuration = result.Configuration,
            Errors = [new LoadErrorKind { Outcome = unreachable.Outcome, ErrorKind = unreachable.ErrorKind, Status = unreachable.Status, Count = messages.Length, Messages = messages }],
        };
        var merged = LoadResult.Merge([Shard(0, "gone [session 1, phase Init]", "gone [session 12, phase Finish]"), Shard(1, "gone [session 7, phase Init]")]);

        Assert.That(merged.Errors.Single().Messages, Is.EqualTo(new[] { "gone [session 1, phase Init]", "gone [session 12, phase Finish]" }));
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
