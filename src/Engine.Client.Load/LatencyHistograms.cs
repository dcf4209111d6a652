using System.Collections.Concurrent;
using HdrHistogram;

namespace Engine.Client.Load;

/// <summary>The histogram shape every phase uses, and the conversions to and from it.</summary>
internal static class LatencyHistograms
{
    /// <summary>One microsecond, the unit of every recorded value.</summary>
    public const long Lowest = 1;

    /// <summary>One hour in microseconds: larger values are recorded as this.</summary>
    public const long Highest = 3_600_000_000L;

    public const int Digits = 3;

    public static LongHistogram Create() => new(Lowest, Highest, Digits);

    public static long Clamp(long micros) => Math.Clamp(micros, Lowest, Highest);

    public static long Micros(long fromTimestamp, long toTimestamp) =>
        Clamp((long)((toTimestamp - fromTimestamp) * 1_000_000.0 / System.Diagnostics.Stopwatch.Frequency));

    public static Recorder CreateRecorder() =>
        new(Lowest, Highest, Digits, (id, low, high, digits) => new LongHistogram(id, low, high, digits));

    /// <summary>The histogram compressed (the standard V2 compressed encoding) and in base64, as in HdrHistogram logs.</summary>
    public static string Encode(HistogramBase histogram)
    {
        var buffer = HdrHistogram.Utilities.ByteBuffer.Allocate(histogram.GetNeededByteBufferCapacity());
        var length = histogram.EncodeIntoCompressedByteBuffer(buffer);
        var bytes = new byte[length];
        buffer.Position = 0;
        for (var i = 0; i < length; i++)
        {
            bytes[i] = buffer.Get();
        }

        return Convert.ToBase64String(bytes);
    }

    /// <summary>Decodes <see cref="Encode"/>'s text into a histogram of the standard shape.</summary>
    /// <exception cref="FormatException">The text is not a compressed histogram.</exception>
    public static LongHistogram Decode(string base64)
    {
        HistogramBase decoded;
        try
        {
            var buffer = HdrHistogram.Utilities.ByteBuffer.Allocate(Convert.FromBase64String(base64));
            decoded = HistogramEncoding.DecodeFromCompressedByteBuffer(buffer, 0);
        }
        catch (Exception ex) when (ex is not FormatException)
        {
            throw new FormatException($"not an encoded HdrHistogram: {ex.Message}", ex);
        }

        var histogram = Create();
        histogram.Add(decoded);
        return histogram;
    }

    /// <summary>The value at <paramref name="percentile"/> in milliseconds, or <see langword="null"/> when empty.</summary>
    public static double? Millis(HistogramBase histogram, double percentile) =>
        histogram.TotalCount == 0 ? null : histogram.GetValueAtPercentile(percentile) / 1000.0;

    public static double? MaxMillis(HistogramBase histogram) =>
        histogram.TotalCount == 0 ? null : histogram.GetMaxValue() / 1000.0;
}

/// <summary>
/// Concurrent recording for every phase: an HdrHistogram <see cref="Recorder"/> per phase (writers
/// never block), whose interval histograms are moved into the run's totals at each interval.
/// </summary>
/// <remarks>
/// A histogram of this shape holds about 190 KB of counts (a large-object-heap allocation): the
/// interval histograms are recycled, each phase's previous one handed back to its recorder at the
/// next <see cref="Roll"/>, so a long run allocates none per interval. Hence the histograms
/// <see cref="Roll"/> returns are valid until the next call only.
/// </remarks>
internal sealed class PhaseRecorders
{
    private readonly ConcurrentDictionary<string, Recorder> _recorders = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LongHistogram> _totals = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HistogramBase> _interval = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public PhaseRecorders()
    {
        foreach (var phase in LoadPhases.All)
        {
            _recorders[phase] = LatencyHistograms.CreateRecorder();
            _totals[phase] = LatencyHistograms.Create();
        }
    }

    public void Record(string phase, long micros) => _recorders[phase].RecordValue(LatencyHistograms.Clamp(micros));

    /// <summary>
    /// Takes each phase's interval histogram, adds it to the totals, returns the intervals: the same
    /// dictionary each time, its histograms recycled at the next call (valid until then).
    /// </summary>
    public IReadOnlyDictionary<string, HistogramBase> Roll()
    {
        lock (_gate)
        {
            foreach (var phase in LoadPhases.All)
            {
                // The recorder resets the recycled histogram before it swaps it in.
                var histogram = _interval.TryGetValue(phase, out var previous)
                    ? _recorders[phase].GetIntervalHistogram(previous)
                    : _recorders[phase].GetIntervalHistogram();
                _totals[phase].Add(histogram);
                _interval[phase] = histogram;
            }

            return _interval;
        }
    }

    public Dictionary<string, HistogramBase> Totals()
    {
        lock (_gate)
        {
            return _totals.ToDictionary(p => p.Key, p => (HistogramBase)p.Value.Copy(), StringComparer.Ordinal);
        }
    }
}
