using System.Globalization;
using System.Text;

namespace Engine.Client.Diagnostics;

/// <summary>
/// Text a worker controls (its stderr, its error messages), made safe to show: every control
/// character (C0 but tab, DEL, C1: so ESC and every terminal escape sequence), lone surrogate and
/// bidirectional override is written as a visible escape, <c>\x1b</c> or <c>\u202e</c>; surrogate
/// pairs (emoji) stay as they are.
/// </summary>
internal static class SafeText
{
    /// <summary>Whether <paramref name="c"/> must not be shown raw (a lone surrogate counts; pairs are checked by <see cref="Escape"/>).</summary>
    public static bool IsUnsafe(char c) => c switch
    {
        '\t' => false,
        < ' ' => true,
        >= '\u007f' and <= '\u009f' => true,
        '\u061c' or '\u200e' or '\u200f' or (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069') => true,
        _ => char.IsSurrogate(c),
    };

    /// <summary><paramref name="text"/> with every unsafe character escaped; the same instance when none is.</summary>
    /// <param name="text">The text.</param>
    /// <param name="keepNewlines">Whether line feeds stay as they are (multi-line text shown as such).</param>
    public static string Escape(string text, bool keepNewlines = false)
    {
        StringBuilder? escaped = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                escaped?.Append(c).Append(text[i + 1]);
                i++;
                continue;
            }

            if (IsUnsafe(c) && !(keepNewlines && c == '\n'))
            {
                escaped ??= new StringBuilder(text.Length + 16).Append(text, 0, i);
                escaped.Append(c <= '\u00ff'
                    ? string.Create(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}")
                    : string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"));
                continue;
            }

            escaped?.Append(c);
        }

        return escaped?.ToString() ?? text;
    }
}
