using System.Text;

namespace Engine.Client.Cli.Output;

/// <summary>Plain text for redirected stdout: stable, aligned, greppable.</summary>
internal sealed class PlainRenderer : Renderer
{
    private readonly TextWriter _out;

    public PlainRenderer(TextWriter output)
    {
        _out = output;
    }

    public override void Line(string text = "") => _out.WriteLine(text);

    public override void Heading(string text) => _out.WriteLine(text + ":");

    public override void Marked(Mark mark, string label, string text)
    {
        var prefix = mark switch
        {
            Mark.Good => "ok   ",
            Mark.Bad => "FAIL ",
            Mark.Neutral => "--   ",
            _ => "     ",
        };
        _out.WriteLine(string.IsNullOrEmpty(label) ? prefix + text : $"{prefix}{label}  {text}");
    }

    public override void KeyValues(IReadOnlyList<(string Key, string Value)> rows)
    {
        var width = rows.Count == 0 ? 0 : rows.Max(r => r.Key.Length);
        foreach (var (key, value) in rows)
        {
            _out.WriteLine($"  {key.PadRight(width)}  {value}");
        }
    }

    public override void Table(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows)
    {
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
