using System.Globalization;

namespace Engine.Client.Benchmarks;

/// <summary>Human-readable sizes and numbers, invariant culture.</summary>
public static class Format
{
    public static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 when bytes % (1L << 30) == 0 => (bytes >> 30).ToString(CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 when bytes % (1L << 20) == 0 => (bytes >> 20).ToString(CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 when bytes % (1L << 10) == 0 => (bytes >> 10).ToString(CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };

    public static string MiB(long bytes) => (bytes / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";

    public static string Number(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>Parses <c>1k</c>, <c>64KiB</c>, <c>1m</c>, <c>4MiB</c>, <c>4g</c> or plain bytes.</summary>
    public static long ParseBytes(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t.EndsWith("ib", StringComparison.Ordinal))
        {
            t = t[..^2];
        }
        else if (t.EndsWith('b'))
        {
            t = t[..^1];
        }

        var shift = t.Length == 0 ? 0 : t[^1] switch
        {
            'k' => 10,
            'm' => 20,
            'g' => 30,
            _ => 0,
        };
        if (shift != 0)
        {
            t = t[..^1];
        }

        if (!long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0 || value > (long.MaxValue >> shift))
        {
            throw new FormatException($"'{text}' is not a size (for example 1k, 64k, 1m, 4m, 4g or a number of bytes).");
        }

        return value << shift;
    }

    /// <summary>A size that fits an <see cref="int"/> (a batch size).</summary>
    public static int ParseSize(string text)
    {
        var bytes = ParseBytes(text);
        return bytes <= int.MaxValue ? (int)bytes : throw new FormatException($"'{text}' is too large for a batch.");
    }
}
