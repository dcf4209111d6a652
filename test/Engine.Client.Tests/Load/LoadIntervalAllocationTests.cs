using System.IO.Compression;
using Engine.Client.Load;
using HdrHistogram;
using HdrHistogram.Encoding;
using HdrHistogram.Utilities;

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

    /// <summary>
    /// The interval's encoded histogram (the JSON's and the HdrHistogram log's) is the standard V2
    /// encoding, byte for byte before compression, and the package reads it back; encoding one
    /// allocates little (the package's encoder allocates about 650 KB per call for this shape).
    /// </summary>
    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void The_encoded_histogram_is_the_standard_encoding_and_allocates_little(int seed)
    {
        var histogram = LatencyHistograms.Create();
        var random = new Random(seed);
        var values = seed switch
        {
            0 => 0,
            1 => 1,
            2 => 50,
            _ => 20_000,
        };
        for (var i = 0; i < values; i++)
        {
            // Log-uniform from 1 µs to the highest value, some values many times (multi-byte counts).
            var value = (long)Math.Exp(random.NextDouble() * Math.Log(LatencyHistograms.Highest));
            histogram.RecordValueWithCount(Math.Clamp(value, 1, LatencyHistograms.Highest), random.Next(3) == 0 ? random.Next(1, 100_000) : 1);
        }

        histogram.RecordValue(LatencyHistograms.Highest);
        var text = LatencyHistograms.Encode(histogram);
        var bytes = Convert.FromBase64String(text);

        // Before compression: the package's own V2 encoding, byte for byte.
        var expected = ByteBuffer.Allocate(histogram.GetNeededByteBufferCapacity());
        var expectedLength = histogram.Encode(expected, HistogramEncoderV2.Instance);
        expected.Position = 0;
        var expectedBytes = new byte[expectedLength];
        for (var i = 0; i < expectedLength; i++)
        {
            expectedBytes[i] = expected.Get();
        }

        using (var zlib = new ZLibStream(new MemoryStream(bytes, 8, bytes.Length - 8), CompressionMode.Decompress))
        using (var raw = new MemoryStream())
        {
            zlib.CopyTo(raw);
            Assert.That(raw.ToArray(), Is.EqualTo(expectedBytes));
        }

        // It decodes to the same histogram, and so does the package's own compressed encoding
        // (more than 8 KB of it too: the package's decoder alone reads only the first 8 KB).
        var package = ByteBuffer.Allocate(histogram.GetNeededByteBufferCapacity());
        var packageLength = histogram.EncodeIntoCompressedByteBuffer(package);
        package.Position = 0;
        var packageBytes = new byte[packageLength];
        for (var i = 0; i < packageLength; i++)
        {
            packageBytes[i] = package.Get();
        }

        foreach (var encoded in new[] { text, Convert.ToBase64String(packageBytes) })
        {
            var decoded = LatencyHistograms.Decode(encoded);
            Assert.That(decoded.TotalCount, Is.EqualTo(histogram.TotalCount));
            Assert.That(decoded.RecordedValues().Select(v => (v.ValueIteratedTo, v.CountAtValueIteratedTo)), Is.EqualTo(histogram.RecordedValues().Select(v => (v.ValueIteratedTo, v.CountAtValueIteratedTo))));
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        LatencyHistograms.Encode(histogram);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        TestContext.Out.WriteLine($"{histogram.TotalCount} values: encoded in {bytes.Length} B, allocating {allocated} B");
        Assert.That(allocated, Is.LessThan(64 * 1024 + (4 * text.Length)), "no buffer the size of the counts array");
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
