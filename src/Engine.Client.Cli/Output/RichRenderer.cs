using Spectre.Console;
using Spectre.Console.Rendering;

namespace Engine.Client.Cli.Output;

/// <summary>
/// Colours and tables for a terminal, through Spectre.Console. Every text is escaped and bounded
/// by <see cref="TerminalText"/> first: Spectre escapes its markup, not control characters.
/// </summary>
internal sealed class RichRenderer : Renderer
{
    private readonly IAnsiConsole _console;

    public RichRenderer(TextWriter output)
    {
        _console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Detect,
            ColorSystem = ColorSystemSupport.Detect,
            Out = new AnsiConsoleOutput(output),
        });
    }

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
}
