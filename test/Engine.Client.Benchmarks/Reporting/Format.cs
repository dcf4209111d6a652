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

    /// <summary>Parses <c>1k</c>, <c>64KiB</c>, <c>1m</c>, <c>4MiB</c>, <c>1g</c> or plain bytes.</summary>
    public static int ParseSize(string text)
    {
        var t = text.Trim().ToLowerInvariant().Replace("ib", "", StringComparison.Ordinal).Replace("b", "", StringComparison.Ordinal);
        long multiplier = 1;
        if (t.EndsWith('k'))
        {
            multiplier = 1024;
        }
        else if (t.EndsWith('m'))
        {
            multiplier = 1024 * 1024;
        }
        else if (t.EndsWith('g'))
        {
            multiplier = 1024 * 1024 * 1024;
        }

        if (multiplier != 1)
        {
            t = t[..^1];
        }

        return checked((int)(long.Parse(t, CultureInfo.InvariantCulture) * multiplier));
    }
}
