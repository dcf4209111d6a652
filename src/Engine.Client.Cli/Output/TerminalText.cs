using System.Globalization;
using System.Text;

namespace Engine.Client.Cli.Output;

/// <summary>
/// Text that may come from a worker (error messages and classes, tracebacks, launch output,
/// heartbeat metrics, Arrow field names and values) made safe and bounded for a terminal: control
/// characters (C0, DEL, C1, so ESC and every escape sequence), lone surrogates and bidirectional
/// overrides are shown as <c>\x1b</c> or <c>\u202e</c>; a line longer than
/// <see cref="MaxLineChars"/> characters and a text longer than <see cref="MaxLines"/> lines keep
/// their start and their end, saying how much was left out between them. Escaped text contains no
/// control character, so escaping a text that fits twice changes nothing.
/// </summary>
internal static class TerminalText
{
    /// <summary>Characters of one printed line.</summary>
    public const int MaxLineChars = 2000;

    /// <summary>Lines of one printed value (a message, a traceback).</summary>
    public const int MaxLines = 40;

    /// <summary>The one line on stderr that says why a command failed.</summary>
    public const int MaxOneLineChars = 1000;

    /// <summary>
    /// <paramref name="text"/> as one safe line: every control character escaped (a line break
    /// too). When the escaped line would be longer than <paramref name="maxChars"/> characters, its
    /// first three quarters and its last quarter are kept, with a note of how many characters were
    /// left out between them: a message often says what went wrong first and what to do last.
    /// </summary>
    public static string Escape(string? text, int maxChars = MaxLineChars)
    {
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }

        // Escaping lengthens every character it changes: the same length means nothing to escape.
        var escapedLength = EscapedLength(text, 0, text.Length);
        if (escapedLength <= maxChars)
        {
            return escapedLength == text.Length ? text : EscapeRange(text, 0, text.Length);
        }

        var tailBudget = maxChars / 4;
        var headEnd = HeadEnd(text, maxChars - tailBudget);
        var tailStart = Math.Max(headEnd, TailStart(text, tailBudget));
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{EscapeRange(text, 0, headEnd)} [... {tailStart - headEnd} characters left out ...] {EscapeRange(text, tailStart, text.Length)}");
    }

    /// <summary>
    /// The lines of <paramref name="text"/> (split at line breaks), at most
    /// <paramref name="maxLines"/>: when there are more, the first quarter and the last lines are
    /// kept (a launch failure's cause is usually at the end), with a line saying how many were
    /// left out. The lines are not escaped: a <see cref="Renderer"/> escapes what it prints.
    /// </summary>
    public static IReadOnlyList<string> Lines(string? text, int maxLines = MaxLines)
    {
        if (string.IsNullOrEmpty(text))
        {
            return [string.Empty];
        }

        var lines = text.ReplaceLineEndings("\n").Split('\n');
        if (lines.Length <= maxLines)
        {
            return lines;
        }

        var head = Math.Max(1, maxLines / 4);
        var tail = maxLines - head - 1;
        return [.. lines.Take(head), $"[... {lines.Length - head - tail} lines left out]", .. lines.Skip(lines.Length - tail)];
    }

    /// <summary>
    /// <paramref name="text"/> on one line for stderr: its lines joined by spaces, escaped, at most
    /// <paramref name="maxChars"/> characters.
    /// </summary>
    public static string OneLine(string? text, int maxChars = MaxOneLineChars)
    {
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }

        var joined = string.Join(' ', text.ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return Escape(joined, maxChars);
    }

    /// <summary>Whether <paramref name="c"/> must not reach a terminal as it is (a tab may).</summary>
    public static bool IsUnsafe(char c) => c switch
    {
        '\t' => false,
        < ' ' => true,
        >= '\u007f' and <= '\u009f' => true,
        '\u061c' or '\u200e' or '\u200f' or (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069') => true,
        _ => char.IsSurrogate(c),
    };

    /// <summary>The escaped form of <c>text[start..end]</c>; a range never splits a surrogate pair.</summary>
    private static string EscapeRange(string text, int start, int end)
    {
        var result = new StringBuilder(end - start + 16);
        for (var i = start; i < end; i++)
        {
            var c = text[i];
            if (IsPair(text, i))
            {
                result.Append(c).Append(text[++i]);
            }
            else if (IsUnsafe(c))
            {
                result.Append(c <= 0xff
                    ? string.Create(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}")
                    : string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}"));
            }
            else
            {
                result.Append(c);
            }
        }

        return result.ToString();
    }

    /// <summary>How long <c>text[start..end]</c> is once escaped.</summary>
    private static long EscapedLength(string text, int start, int end)
    {
        long length = 0;
        for (var i = start; i < end; i++)
        {
            if (IsPair(text, i))
            {
                i++;
                length += 2;
            }
            else
            {
                length += Width(text[i]);
            }
        }

        return length;
    }

    /// <summary>Where the longest start of <paramref name="text"/> whose escaped form fits <paramref name="budget"/> ends.</summary>
    private static int HeadEnd(string text, int budget)
    {
        var used = 0;
        var i = 0;
        while (i < text.Length)
        {
            var (units, width) = IsPair(text, i) ? (2, 2) : (1, Width(text[i]));
            if (used + width > budget)
            {
                break;
            }

            used += width;
            i += units;
        }

        return i;
    }

    /// <summary>Where the longest end of <paramref name="text"/> whose escaped form fits <paramref name="budget"/> starts.</summary>
    private static int TailStart(string text, int budget)
    {
        var used = 0;
        var i = text.Length;
        while (i > 0)
        {
            var (units, width) = i >= 2 && IsPair(text, i - 2) ? (2, 2) : (1, Width(text[i - 1]));
            if (used + width > budget)
            {
                break;
            }

            used += width;
            i -= units;
        }

        return i;
    }

    /// <summary>Whether a valid surrogate pair starts at <paramref name="i"/>: it passes as it is.</summary>
    private static bool IsPair(string text, int i) =>
        char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);

    /// <summary>Characters <paramref name="c"/> takes once escaped (outside a surrogate pair).</summary>
    private static int Width(char c) => !IsUnsafe(c) ? 1 : c <= 0xff ? 4 : 6;
}
