using Spectre.Console;
using Spectre.Console.Rendering;

namespace Engine.Client.Cli.Output;

/// <summary>Colours and tables for a terminal, through Spectre.Console.</summary>
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

    public override void Line(string text = "") => _console.WriteLine(text);

    public override void Heading(string text) => _console.Write(new Rule(Markup.Escape(text)) { Justification = Justify.Left });

    public override void Marked(Mark mark, string label, string text)
    {
        var prefix = mark switch
        {
            Mark.Good => "[green]✔[/] ",
            Mark.Bad => "[red]✘[/] ",
            Mark.Neutral => "[grey]–[/] ",
            _ => "  ",
        };
        var labelMarkup = string.IsNullOrEmpty(label) ? string.Empty : $"[bold]{Markup.Escape(label)}[/]  ";
        _console.MarkupLine(prefix + labelMarkup + Markup.Escape(text));
    }

    public override void KeyValues(IReadOnlyList<(string Key, string Value)> rows)
    {
        var grid = new Grid().AddColumn(new GridColumn().PadLeft(2).PadRight(2).NoWrap()).AddColumn();
        foreach (var (key, value) in rows)
        {
            grid.AddRow(new Text(key, new Style(Color.Grey)), new Text(value));
        }

        _console.Write(grid);
    }

    public override void Table(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var header in headers)
        {
            table.AddColumn(new TableColumn(new Text(header, new Style(decoration: Decoration.Bold))));
        }

        foreach (var row in rows)
        {
            table.AddRow([.. row.Select(cell => (IRenderable)new Text(cell))]);
        }

        _console.Write(table);
    }
}
