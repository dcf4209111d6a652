using Engine.Client.Load;

namespace Engine.Client.Tests.Load;

/// <summary>
/// Sessions record their phases and count their starts and ends from many threads at once: no value
/// may be lost, an interval's counts must add up to its total (or its percentiles are wrong, and
/// HdrHistogram's percentile lookup throws "percentile value not found in range"), and a snapshot of
/// the counters must not show a session's end without its start.
/// </summary>
[TestFixture]
public sealed class LoadConcurrentRecordingTests
{
    private const int Threads = 4;
    private const int PerThread = 500_000;

    [Test]
    public void Values_recorded_from_many_threads_at_once_are_all_counted()
    {
        var recorders = new PhaseRecorders();
        using var start = new Barrier(Threads);
        var writers = Enumerable.Range(0, Threads).Select(_ => new Thread(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < PerThread; i++)
            {
                // One value for all: every writer increments the same count.
                recorders.Record(LoadPhases.Session, 1_000);
            }
        })).ToList();

        writers.ForEach(writer => writer.Start());
        foreach (var writer in writers)
        {
            Assert.That(writer.Join(TimeSpan.FromMinutes(1)), Is.True, "a writer did not finish");
        }

        var interval = recorders.Roll()[LoadPhases.Session];
        var counted = interval.RecordedValues().Sum(value => value.CountAtValueIteratedTo);

        Assert.That(interval.TotalCount, Is.EqualTo((long)Threads * PerThread), "the interval's total");
        Assert.That(counted, Is.EqualTo(interval.TotalCount), "the interval's counts add up to its total");
        Assert.That(LatencyHistograms.Millis(interval, 99.9), Is.EqualTo(1.0).Within(0.001));
        Assert.That(LatencyHistograms.Millis(interval, 100), Is.EqualTo(1.0).Within(0.001));
        Assert.That(recorders.Totals()[LoadPhases.Session].TotalCount, Is.EqualTo((long)Threads * PerThread), "the run's total");
    }

    [Test]
    public void A_snapshot_taken_while_sessions_end_never_shows_an_end_or_a_late_start_without_its_start()
    {
        const int Sessions = 2_000_000;
        var counters = new LoadCounters();
        using var start = new Barrier(2);
        var writer = new Thread(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < Sessions; i++)
            {
                // What each session does, in its order: counted as started, as late, then as ended.
                Interlocked.Increment(ref counters.Started);
                Interlocked.Increment(ref counters.BehindSchedule);
                Interlocked.Increment(ref counters.Finished);
            }
        });

        writer.Start();
        start.SignalAndWait();
        long snapshots = 0, torn = 0;
        LoadCounters.Snapshot first = default;
        while (writer.IsAlive)
        {
            var snapshot = counters.Take();
            snapshots++;
            if (snapshot.Finished > snapshot.Started || snapshot.BehindSchedule > snapshot.Started)
            {
                if (torn++ == 0)
                {
                    first = snapshot;
                }
            }
        }

        Assert.That(writer.Join(TimeSpan.FromMinutes(1)), Is.True);
        TestContext.Out.WriteLine($"{snapshots} snapshots, {torn} torn");
        Assert.That(snapshots, Is.GreaterThan(1_000), "snapshots were taken while the sessions ended");
        Assert.That(torn, Is.Zero, () => $"{torn} of {snapshots} snapshots showed more ends or late starts than starts, the first: started {first.Started}, behind {first.BehindSchedule}, finished {first.Finished}");
    }
}
