using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Engine.Client.Cli.Parsing;

/// <summary>
/// Durations on the command line: one or more <c>&lt;number&gt;&lt;unit&gt;</c> parts, units
/// <c>ms</c>, <c>s</c>, <c>m</c>, <c>h</c> (for example <c>500ms</c>, <c>30s</c>, <c>1.5s</c>,
/// <c>2m</c>, <c>1m30s</c>). Always positive, at most 24 days (the longest timer .NET arms).
/// </summary>
internal static class Durations
{
    /// <summary>The longest accepted duration: <see cref="CancellationTokenSource.CancelAfter(TimeSpan)"/>'s limit, rounded down.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromDays(24);

    private const string Accepted = "use a number with a unit: ms, s, m or h (for example 500ms, 30s, 2m, 1m30s)";

    /// <summary>Parses a duration; with <paramref name="allowZero"/>, also zero (<c>0</c>, <c>0s</c>: none).</summary>
    public static bool TryParse(string? text, out TimeSpan value, [NotNullWhen(false)] out string? error, bool allowZero = false)
    {
        value = TimeSpan.Zero;
        if (allowZero && text?.Trim() == "0")
        {
            error = null;
            return true;
        }

        if (string.IsNullOrWhiteSpace(text))
        {
            error = "is empty; " + Accepted + ".";
            return false;
        }

        var s = text.Trim();
        var total = 0.0;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }

            if (i == start)
            {
                error = $"'{text}' is not a duration; {Accepted}.";
                return false;
            }

            if (!double.TryParse(s.AsSpan(start, i - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                error = $"'{text}' is not a duration: '{s[start..i]}' is not a number; {Accepted}.";
                return false;
            }

            var unitStart = i;
            while (i < s.Length && char.IsAsciiLetter(s[i]))
            {
                i++;
            }

            var unit = s[unitStart..i].ToLowerInvariant();
            double milliseconds;
            switch (unit)
            {
                case "ms":
                    milliseconds = number;
                    break;
                case "s":
                    milliseconds = number * 1000;
                    break;
                case "m":
                    milliseconds = number * 60_000;
                    break;
                case "h":
                    milliseconds = number * 3_600_000;
                    break;
                case "" when i < s.Length && char.IsWhiteSpace(s[i]):
                    error = $"'{text}' has a space between the number and its unit; write them together, for example {s[start..unitStart]}{s[unitStart..].Trim()} ({Accepted}).";
                    return false;
                case "":
                    error = $"'{text}' has no unit; {Accepted}.";
                    return false;
                default:
                    error = $"'{text}' has an unknown unit '{unit}'; {Accepted}.";
                    return false;
            }

            total += milliseconds;
        }

        if (total == 0 && allowZero)
        {
            error = null;
            return true;
        }

        if (total < 1)
        {
            error = allowZero
                ? $"'{text}' is shorter than 1 ms; give 0 for none or a duration of at least 1 ms ({Accepted})."
                : $"'{text}' is shorter than 1 ms; give a positive duration ({Accepted}).";
            return false;
        }

        if (total > Max.TotalMilliseconds)
        {
            error = $"'{text}' is longer than the 24 days a timer can run; give a shorter duration.";
            return false;
        }

        value = TimeSpan.FromMilliseconds(Math.Round(total));
        error = null;
        return true;
    }

    /// <summary>
    /// A keepalive ping delay: <c>off</c> (no pings, <see cref="Timeout.InfiniteTimeSpan"/>) or a
    /// duration of at least 1 s (the shortest the .NET HTTP/2 client accepts).
    /// </summary>
    public static bool TryParseKeepAlive(string? text, out TimeSpan value, [NotNullWhen(false)] out string? error)
    {
        if (string.Equals(text?.Trim(), "off", StringComparison.OrdinalIgnoreCase))
        {
            value = Timeout.InfiniteTimeSpan;
            error = null;
            return true;
        }

        if (!TryParse(text, out value, out error))
        {
            error = error.TrimEnd('.') + ", or off.";
            return false;
        }

        if (value < MinKeepAlivePingDelay)
        {
            error = $"'{text}' is shorter than 1 s, the shortest keepalive delay; give 1s or more (more than 5m for gRPC-core, Java and Go workers), or off.";
            return false;
        }

        return true;
    }

    /// <summary>The shortest keepalive delay .NET's HTTP/2 client accepts (WorkerConnectionOptions.KeepAlivePingDelay says so too).</summary>
    private static readonly TimeSpan MinKeepAlivePingDelay = TimeSpan.FromSeconds(1);

    /// <summary>A short human form: <c>500 ms</c>, <c>1.5 s</c>, <c>2 min</c>.</summary>
    public static string Format(TimeSpan value) => value.TotalMilliseconds switch
    {
        < 1000 => string.Create(CultureInfo.InvariantCulture, $"{value.TotalMilliseconds:0.#} ms"),
        < 120_000 => string.Create(CultureInfo.InvariantCulture, $"{value.TotalSeconds:0.###} s"),
        < 7_200_000 => string.Create(CultureInfo.InvariantCulture, $"{value.TotalMinutes:0.##} min"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{value.TotalHours:0.##} h"),
    };
}
