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

    /// <summary>
    /// A recorder that many threads may record into at once. Its histograms are concurrent ones: the
    /// recorder lets every writer record into the same active histogram, and a plain
    /// <see cref="LongHistogram"/> loses counts under that (about 2% with four writers on one value)
    /// and then holds counts that do not add up to its total, which breaks every percentile.
    /// </summary>
    public static Recorder CreateRecorder() =>
        new(Lowest, Highest, Digits, (id, low, high, digits) => new LongConcurrentHistogram(id, low, high, digits));

    /// <summary>
    /// The histogram compressed (the standard V2 compressed encoding) and in base64, as in
    /// HdrHistogram logs. Written here from the recorded values rather than by the package's
    /// encoder, which allocates about 650 KB per call for this shape (three buffers as large as the
    /// counts array, on the large object heap): the run encodes every interval.
    /// </summary>
    public static string Encode(HistogramBase histogram)
    {
        ArgumentNullException.ThrowIfNull(histogram);

        // One scratch for the process, not one per thread: an interval closes on whichever
        // thread-pool thread its timer wakes, and a starved pool grows to hundreds of threads.
        lock (Scratch)
        {
            return Convert.ToBase64String(Scratch.Compress(histogram).Span);
        }
    }

    private static readonly EncodeScratch Scratch = new();

    /// <summary>
    /// Encodes into buffers kept for the next call (under the caller's lock): the V2 encoding's header, then the counts from index 0
    /// to the highest recorded one as ZigZag LEB128 words (a run of zero counts as its negated length),
    /// then deflated in zlib format behind the compressed cookie and length.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "A MemoryStream holds no resource; the scratch lives as long as the process.")]
    private sealed class EncodeScratch
    {
        private const int V2Cookie = 0x1c849303 | 0x10;
        private const int V2CompressedCookie = 0x1c849304 | 0x10;
        private byte[] _raw = new byte[4096];
        private int _length;
        private readonly MemoryStream _compressed = new();

        public ReadOnlyMemory<byte> Compress(HistogramBase histogram)
        {
            _length = 0;
            WriteRaw(histogram);
            _compressed.SetLength(0);
            Span<byte> header = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(header, V2CompressedCookie);
            _compressed.Write(header);
            using (var zlib = new System.IO.Compression.ZLibStream(_compressed, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
            {
                zlib.Write(_raw, 0, _length);
            }

            var bytes = _compressed.GetBuffer();
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4), (int)_compressed.Length - 8);
            return bytes.AsMemory(0, (int)_compressed.Length);
        }

        private void WriteRaw(HistogramBase histogram)
        {
            var shape = new Shape(histogram.LowestTrackableValue, histogram.NumberOfSignificantValueDigits);
            Int(V2Cookie);
            Int(0); // payload length, set below
            Int(0); // normalizing index offset
            Int(histogram.NumberOfSignificantValueDigits);
            Long(histogram.LowestTrackableValue);
            Long(histogram.HighestTrackableValue);
            Long(BitConverter.DoubleToInt64Bits(1.0)); // integer to double value conversion ratio
            const int HeaderLength = 40;

            var next = 0;
            foreach (var value in histogram.RecordedValues())
            {
                var index = shape.IndexOf(value.ValueIteratedTo);
                var zeros = index - next;
                if (zeros == 1)
                {
                    ZigZag(0);
                }
                else if (zeros > 1)
                {
                    ZigZag(-zeros);
                }

                ZigZag(value.CountAtValueIteratedTo);
                next = index + 1;
            }

            if (next == 0)
            {
                // Empty: the counts up to the index of 0, one zero count.
                ZigZag(0);
            }

            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(_raw.AsSpan(4), _length - HeaderLength);
        }

        private void Ensure(int more)
        {
            if (_length + more > _raw.Length)
            {
                Array.Resize(ref _raw, Math.Max(_raw.Length * 2, _length + more));
            }
        }

        private void Int(int value)
        {
            Ensure(4);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(_raw.AsSpan(_length), value);
            _length += 4;
        }

        private void Long(long value)
        {
            Ensure(8);
            System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(_raw.AsSpan(_length), value);
            _length += 8;
        }

        /// <summary>HdrHistogram's ZigZag LEB128 (LEB128-64b9B): up to eight 7-bit groups, then a ninth byte of 8 bits.</summary>
        private void ZigZag(long signed)
        {
            Ensure(9);
            var value = (ulong)((signed << 1) ^ (signed >> 63));
            for (var i = 0; i < 8; i++)
            {
                if (value >> 7 == 0)
                {
                    _raw[_length++] = (byte)value;
                    return;
                }

                _raw[_length++] = (byte)((value & 0x7F) | 0x80);
                value >>= 7;
            }

            _raw[_length++] = (byte)value;
        }
    }

    /// <summary>The counts array layout of a histogram (as HdrHistogram lays it out), to find a value's index.</summary>
    private readonly struct Shape
    {
        private readonly int _unitMagnitude;
        private readonly int _subBucketHalfCountMagnitude;
        private readonly int _subBucketHalfCount;
        private readonly long _subBucketMask;
        private readonly int _leadingZeroCountBase;

        public Shape(long lowest, int digits)
        {
            var largestWithSingleUnitResolution = 2 * (long)Math.Pow(10, digits);
            var subBucketCountMagnitude = (int)Math.Ceiling(Math.Log2(largestWithSingleUnitResolution));
            _subBucketHalfCountMagnitude = Math.Max(subBucketCountMagnitude, 1) - 1;
            _unitMagnitude = (int)Math.Floor(Math.Log2(lowest));
            var subBucketCount = 1 << (_subBucketHalfCountMagnitude + 1);
            _subBucketHalfCount = subBucketCount / 2;
            _subBucketMask = (long)(subBucketCount - 1) << _unitMagnitude;
            _leadingZeroCountBase = 64 - _unitMagnitude - _subBucketHalfCountMagnitude - 1;
        }

        public int IndexOf(long value)
        {
            var bucket = _leadingZeroCountBase - System.Numerics.BitOperations.LeadingZeroCount((ulong)(value | _subBucketMask));
            var subBucket = (int)(value >> (bucket + _unitMagnitude));
            return ((bucket + 1) << _subBucketHalfCountMagnitude) + (subBucket - _subBucketHalfCount);
        }
    }

    /// <summary>Decodes <see cref="Encode"/>'s text into a histogram of the standard shape.</summary>
    /// <exception cref="FormatException">The text is not a compressed histogram.</exception>
    public static LongHistogram Decode(string base64)
    {
        HistogramBase decoded;
        try
        {
            var bytes = Convert.FromBase64String(base64);
            if (bytes.Length > 10 && (System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes) & ~0xf0) == 0x1c849304)
            {
                // V2 compressed: inflated here, all of it. The package's decoder reads the
                // inflated counts with one Read, which gives at most one input buffer's worth (a
                // histogram of many distinct values compresses to more than that).
                var length = Math.Min(System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4)), bytes.Length - 8);
                using var deflate = new System.IO.Compression.DeflateStream(new MemoryStream(bytes, 10, length - 2), System.IO.Compression.CompressionMode.Decompress);
                using var raw = new MemoryStream();
                deflate.CopyTo(raw);
                decoded = HistogramEncoding.DecodeFromByteBuffer(HdrHistogram.Utilities.ByteBuffer.Allocate(raw.ToArray()), 0);
            }
            else
            {
                decoded = HistogramEncoding.DecodeFromCompressedByteBuffer(HdrHistogram.Utilities.ByteBuffer.Allocate(bytes), 0);
            }
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
