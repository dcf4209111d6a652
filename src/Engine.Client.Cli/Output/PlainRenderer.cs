using System.Text;

namespace Engine.Client.Cli.Output;

/// <summary>
/// Plain text for redirected stdout: stable, aligned, greppable. Every text is escaped and bounded
/// by <see cref="TerminalText"/>; a multi-line value continues on indented lines.
/// </summary>
internal sealed class PlainRenderer : Renderer
{
    private readonly TextWriter _out;

    public PlainRenderer(TextWriter output)
    {
        _out = output;
    }

    public override void Line(string text = "") => _out.WriteLine(TerminalText.Escape(text));

    public override void Heading(string text) => _out.WriteLine(TerminalText.Escape(text) + ":");

    public override void Marked(Mark mark, string label, string text)
    {
        var prefix = mark switch
        {
            Mark.Good => "ok   ",
            Mark.Bad => "FAIL ",
            Mark.Neutral => "--   ",
            Mark.Warning => "WARN ",
            _ => "     ",
        };
        text = TerminalText.Escape(text);
        _out.WriteLine(string.IsNullOrEmpty(label) ? prefix + text : $"{prefix}{TerminalText.Escape(label)}  {text}");
    }

    public override void KeyValues(IReadOnlyList<(string Key, string Value)> rows)
    {
        var keys = rows.Select(r => TerminalText.Escape(r.Key)).ToArray();
        var width = keys.Length == 0 ? 0 : keys.Max(k => k.Length);
        for (var i = 0; i < rows.Count; i++)
        {
            var lines = TerminalText.Lines(rows[i].Value);
            _out.WriteLine($"  {keys[i].PadRight(width)}  {TerminalText.Escape(lines[0])}".TrimEnd());
            foreach (var line in lines.Skip(1))
            {
                _out.WriteLine($"  {new string(' ', width)}  {TerminalText.Escape(line)}".TrimEnd());
            }
        }
    }

    public override void Table(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows)
    {
        headers = [.. headers.Select(h => TerminalText.Escape(h))];
        rows = [.. rows.Select(r => (IReadOnlyList<string>)[.. r.Select(c => TerminalText.Escape(c))])];
        var widths = headers.Select(h => h.Length).ToArray();
        foreach (var row in rows)
        {
            for (var i = 0; i < widths.Length && i < row.Count; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
        }

        WriteRow(headers, widths);
        WriteRow([.. widths.Select(w => new string('-', w))], widths);
        foreach (var row in rows)
        {
            WriteRow(row, widths);
        }
    }

    private void WriteRow(IReadOnlyList<string> cells, int[] widths)
    {
        var line = new StringBuilder("  ");
        for (var i = 0; i < widths.Length; i++)
        {
            var cell = i < cells.Count ? cells[i] : string.Empty;
            line.Append(i == widths.Length - 1 ? cell : cell.PadRight(widths[i] + 2));
        }

        _out.WriteLine(line.ToString().TrimEnd());
    }
}
