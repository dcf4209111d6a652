using System.Globalization;
using System.Text;

namespace Engine.Client.Cli.Output;

/// <summary>
/// Text that may come from a worker (error messages and classes, tracebacks, launch output,
/// heartbeat metrics, Arrow field names and values) made safe and bounded for a terminal: control
/// characters (C0, DEL, C1, so ESC and every escape sequence), lone surrogates and bidirectional
/// overrides are shown as <c>\x1b</c> or <c>\u202e</c>; a line is cut after
/// <see cref="MaxLineChars"/> characters and a text after <see cref="MaxLines"/> lines, saying
/// how much was left out. Escaped text contains no control character, so escaping twice changes
/// nothing.
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
    /// too), cut after <paramref name="maxChars"/> characters with a note of how many were left out.
    /// </summary>
    public static string Escape(string? text, int maxChars = MaxLineChars)
    {
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }

        if (!NeedsEscaping(text) && text.Length <= maxChars)
        {
            return text;
        }

        var result = new StringBuilder(Math.Min(text.Length, maxChars) + 16);
        var i = 0;
        for (; i < text.Length && result.Length < maxChars; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
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

        if (i < text.Length)
        {
            result.Append(CultureInfo.InvariantCulture, $" [... {text.Length - i} more characters]");
        }

        return result.ToString();
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

    private static bool NeedsEscaping(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (IsUnsafe(c))
            {
                return true;
            }
        }

        return false;
    }
}
