using System.Buffers;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Engine.Client.Cli.Output;

/// <summary>
/// Colours and tables for a terminal, through Spectre.Console. Every text is escaped and bounded
/// by <see cref="TerminalText"/> first: Spectre escapes its markup, not control characters.
/// </summary>
internal sealed class RichRenderer : Renderer
{
    private static readonly SearchValues<char> BreakAfter = SearchValues.Create("/:.-, ");

    private readonly IAnsiConsole _console;

    public RichRenderer(TextWriter output, int? width = null)
    {
        _console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Detect,
            ColorSystem = ColorSystemSupport.Detect,
            Out = new AnsiConsoleOutput(output),
        });
        if (width is { } w)
        {
            _console.Profile.Width = w;
        }
    }

    public override int? Width => _console.Profile.Width;

    public override void Line(string text = "") => _console.WriteLine(TerminalText.Escape(text));

    public override void Heading(string text) => _console.Write(new Rule(Markup.Escape(TerminalText.Escape(text))) { Justification = Justify.Left });

    public override void Marked(Mark mark, string label, string text)
    {
        var prefix = mark switch
        {
            Mark.Good => "[green]✔[/] ",
            Mark.Bad => "[red]✘[/] ",
            Mark.Neutral => "[grey]–[/] ",
            Mark.Warning => "[yellow]![/] ",
            _ => "  ",
        };
        var labelMarkup = string.IsNullOrEmpty(label) ? string.Empty : $"[bold]{Markup.Escape(TerminalText.Escape(label))}[/]  ";
        _console.MarkupLine(prefix + labelMarkup + Markup.Escape(TerminalText.Escape(text)));
    }

    public override void KeyValues(IReadOnlyList<(string Key, string Value)> rows)
    {
        var grid = new Grid().AddColumn(new GridColumn().PadLeft(2).PadRight(2).NoWrap()).AddColumn();
        foreach (var (key, value) in rows)
        {
            var lines = TerminalText.Lines(value).Select(line => TerminalText.Escape(line));
            grid.AddRow(new Text(TerminalText.Escape(key), new Style(Color.Grey)), new Text(string.Join('\n', lines)));
        }

        _console.Write(grid);
    }

    public override void Table(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var header in headers)
        {
            table.AddColumn(new TableColumn(new Text(TerminalText.Escape(header), new Style(decoration: Decoration.Bold))));
        }

        foreach (var row in rows)
        {
            table.AddRow([.. row.Select(cell => (IRenderable)new Text(TerminalText.Escape(cell)))]);
        }

        _console.Write(table);
    }

    public override void TableOfFigures(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows)
    {
        headers = [.. headers.Select(h => TerminalText.Escape(h))];
        rows = [.. rows.Select(r => (IReadOnlyList<string>)[.. r.Select(c => TerminalText.Escape(c))])];

        // The figures' columns as wide as their widest cell; the first column gets what is left of
        // the width (a rounded table spends 3 characters a column and 1 on its right border), at
        // least its header, and its cells are broken into lines of that width at sensible points.
        var figures = Enumerable.Range(1, headers.Count - 1)
            .Sum(i => rows.Select(r => i < r.Count ? r[i].Length : 0).Append(headers[i].Length).Max());
        var first = Math.Max(headers[0].Length, _console.Profile.Width - figures - (3 * headers.Count) - 1);
        var table = new Table().Border(TableBorder.Rounded);
        for (var i = 0; i < headers.Count; i++)
        {
            var column = new TableColumn(new Text(headers[i], new Style(decoration: Decoration.Bold))).NoWrap();
            table.AddColumn(i == 0 ? column : column.RightAligned());
        }

        foreach (var row in rows)
        {
            table.AddRow([.. row.Select((cell, i) => (IRenderable)new Text(i == 0 ? Break(cell, first) : cell))]);
        }

        _console.Write(table);
    }

    /// <summary>
    /// <paramref name="text"/> in lines of at most <paramref name="width"/> characters, each broken
    /// after the last <c>/</c>, <c>:</c>, <c>.</c>, <c>-</c>, <c>,</c> or space that fits (within
    /// the line's second half), else at the width.
    /// </summary>
    internal static string Break(string text, int width)
    {
        if (width < 1 || text.Length <= width)
        {
            return text;
        }

        var lines = new List<string>();
        var rest = text;
        while (rest.Length > width)
        {
            var at = rest.AsSpan(0, width).LastIndexOfAny(BreakAfter);
            var cut = at >= width / 2 ? at + 1 : width;
            lines.Add(rest[..cut]);
            rest = rest[cut..];
        }

        lines.Add(rest);
        return string.Join('\n', lines);
    }
}
