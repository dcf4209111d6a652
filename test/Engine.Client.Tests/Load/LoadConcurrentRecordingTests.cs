using Engine.Client.Load;

namespace Engine.Client.Tests.Load;

/// <summary>
/// Sessions record their phases from many threads at once, into one recorder per phase: no value
/// may be lost, and an interval's counts must add up to its total, or its percentiles are wrong
/// (and HdrHistogram's percentile lookup throws "percentile value not found in range").
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
}
