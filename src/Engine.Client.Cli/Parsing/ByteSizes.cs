using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Engine.Client.Cli.Parsing;

/// <summary>
/// Byte sizes on the command line: a whole number of bytes, optionally with a binary unit
/// (<c>k</c>/<c>KiB</c> = 1024, <c>m</c>/<c>MiB</c> = 1024², <c>g</c>/<c>GiB</c> = 1024³; case-insensitive,
/// <c>KB</c>/<c>MB</c>/<c>GB</c> mean the same), for example <c>65536</c>, <c>64KiB</c>, <c>1m</c>.
/// </summary>
internal static class ByteSizes
{
    private const string Accepted = "use a whole number of bytes, optionally with a unit (for example 65536, 64KiB, 1MiB)";

    public static bool TryParse(string? text, out long value, [NotNullWhen(false)] out string? error)
    {
        value = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "is empty; " + Accepted + ".";
            return false;
        }

        var s = text.Trim();
        var digits = 0;
        while (digits < s.Length && char.IsAsciiDigit(s[digits]))
        {
            digits++;
        }

        if (digits == 0 || !long.TryParse(s.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            error = $"'{text}' is not a byte size; {Accepted}.";
            return false;
        }

        long multiplier = s[digits..].Trim().ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "K" or "KB" or "KIB" => 1024,
            "M" or "MB" or "MIB" => 1024 * 1024,
            "G" or "GB" or "GIB" => 1024 * 1024 * 1024,
            _ => 0,
        };
        if (multiplier == 0)
        {
            error = $"'{text}' has an unknown unit; {Accepted}.";
            return false;
        }

        if (number == 0)
        {
            error = $"'{text}' is zero; give a positive size.";
            return false;
        }

        if (number > long.MaxValue / multiplier)
        {
            error = $"'{text}' is too large.";
            return false;
        }

        value = number * multiplier;
        error = null;
        return true;
    }

    /// <summary>For example <c>512 B</c>, <c>64 KiB</c>, <c>3.5 MiB</c>.</summary>
    public static string Format(long bytes) => bytes switch
    {
        < 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KiB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.#} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024 * 1024):0.##} GiB"),
    };
}
