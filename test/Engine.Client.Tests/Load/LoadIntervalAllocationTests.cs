using Engine.Client.Load;
using HdrHistogram;

namespace Engine.Client.Tests.Load;

/// <summary>
/// Closing an interval allocates no histogram: each phase's interval histogram (about 190 KB of
/// counts, a large-object-heap allocation) is recycled, so a long run does not feed gen2.
/// </summary>
[TestFixture]
public sealed class LoadIntervalAllocationTests
{
    private const int Intervals = 50;

    [Test]
    public void Rolling_the_phase_recorders_recycles_the_interval_histograms()
    {
        var recorders = new PhaseRecorders();

        // Warm up: the first rolls create the histograms that are recycled from then on.
        RecordSome(recorders, 1);
        recorders.Roll();
        RecordSome(recorders, 2);
        recorders.Roll();

        long allocated = 0;
        for (var i = 0; i < Intervals; i++)
        {
            RecordSome(recorders, i);
            var before = GC.GetAllocatedBytesForCurrentThread();
            var histograms = recorders.Roll();
            allocated += GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.That(histograms[LoadPhases.Session].TotalCount, Is.EqualTo(3), "each interval holds that interval's values only");
        }

        var perRoll = allocated / Intervals;
        TestContext.Out.WriteLine($"Roll allocates {perRoll} B per interval ({LoadPhases.All.Count} phases)");

        // Before recycling: a fresh histogram per phase per interval, about 1.7 MB.
        Assert.That(perRoll, Is.LessThan(4 * 1024), "a roll allocates no histogram");
        var totals = recorders.Totals();
        Assert.That(totals[LoadPhases.Session].TotalCount, Is.EqualTo(3L * (Intervals + 2)), "the totals still hold every value");
    }

    [Test]
    public void An_interval_histogram_is_valid_until_the_next_roll()
    {
        var recorders = new PhaseRecorders();
        recorders.Record(LoadPhases.Session, 1_000);
        var first = recorders.Roll()[LoadPhases.Session];
        Assert.That(first.TotalCount, Is.EqualTo(1));
        Assert.That(first.GetMaxValue(), Is.EqualTo(1_000).Within(1));

        recorders.Record(LoadPhases.Session, 5_000);
        recorders.Record(LoadPhases.Session, 6_000);
        var second = recorders.Roll()[LoadPhases.Session];
        Assert.That(second.TotalCount, Is.EqualTo(2));
        Assert.That(second.GetValueAtPercentile(0), Is.EqualTo(5_000).Within(5), "the recycled histogram was reset before reuse");
        Assert.That(recorders.Totals()[LoadPhases.Session].TotalCount, Is.EqualTo(3));
    }

    private static void RecordSome(PhaseRecorders recorders, int seed)
    {
        foreach (var phase in LoadPhases.All)
        {
            recorders.Record(phase, 100 + seed);
            recorders.Record(phase, 10_000 + seed);
            recorders.Record(phase, 1_000_000 + seed);
        }
    }
}
