using System.Text;
using Engine.Client.Diagnostics;

namespace Engine.Client.Workers;

/// <summary>
/// The last lines a child process wrote to stdout and stderr, bounded by line count and total
/// characters, filled by pumps that read both pipes to their end. Thread-safe. Lines are kept
/// escaped (see <see cref="Escape"/>): the tail goes into exception messages and logs, which end
/// up on terminals, so a process's escape sequences and raw bytes must not travel in it.
/// </summary>
internal sealed class OutputTail
{
    private const int MaxLineChars = 4096;

    private readonly int _maxLines;
    private readonly int _maxChars;
    private readonly Queue<string> _lines = new();
    private readonly object _gate = new();
    private int _chars;
    private long _dropped;

    public OutputTail(int maxLines, int maxChars)
    {
        _maxLines = maxLines;
        _maxChars = maxChars;
    }

    public void Append(string line)
    {
        line = Escape(line);
        if (line.Length > MaxLineChars)
        {
            line = string.Concat(line.AsSpan(0, MaxLineChars), " [...]");
        }

        lock (_gate)
        {
            _lines.Enqueue(line);
            _chars += line.Length;
            while (_lines.Count > _maxLines || (_chars > _maxChars && _lines.Count > 1))
            {
                _chars -= _lines.Dequeue().Length;
                _dropped++;
            }
        }
    }

    public IReadOnlyList<string> Lines()
    {
        lock (_gate)
        {
            return _lines.ToArray();
        }
    }

    /// <summary>The tail as text, one line per line, or an explicit note when the process wrote nothing.</summary>
    public string Format()
    {
        string[] lines;
        long dropped;
        lock (_gate)
        {
            lines = _lines.ToArray();
            dropped = _dropped;
        }

        if (lines.Length == 0)
        {
            return "(no output)";
        }

        var text = new StringBuilder();
        if (dropped > 0)
        {
            text.Append("[... ").Append(dropped).Append(" earlier lines not kept]").Append('\n');
        }

        text.AppendJoin('\n', lines);
        return text.ToString();
    }

    /// <summary>Reads <paramref name="reader"/> to its end, appending each line (and a final unterminated one).</summary>
    public async Task PumpAsync(StreamReader reader, Action<string>? onLine)
    {
        var buffer = new char[4096];
        var line = new StringBuilder();
        try
        {
            int read;
            while ((read = await reader.ReadAsync(buffer.AsMemory()).ConfigureAwait(false)) > 0)
            {
                for (var i = 0; i < read; i++)
                {
                    var c = buffer[i];
                    if (c == '\n')
                    {
                        Flush(line, onLine);
                    }
                    else if (line.Length <= MaxLineChars)
                    {
                        line.Append(c);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The pipe broke or was closed by a stop; what was read is kept.
        }

        if (line.Length > 0)
        {
            Flush(line, onLine);
        }
    }

    /// <summary>
    /// <paramref name="line"/> made safe to show (<see cref="SafeText.Escape"/>). Bytes that were
    /// not UTF-8 arrive here already replaced by U+FFFD (the pipes are read as UTF-8 with replacement).
    /// </summary>
    public static string Escape(string line) => SafeText.Escape(line);

    private void Flush(StringBuilder line, Action<string>? onLine)
    {
        var text = Escape(line.ToString().TrimEnd('\r'));
        line.Clear();
        Append(text);
        onLine?.Invoke(text);
    }
}
