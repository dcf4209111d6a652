using Engine.Client.Cli.Hosting;

namespace Engine.Client.Cli.Output;

/// <summary>How a line of a status list is marked.</summary>
internal enum Mark
{
    None,
    Good,
    Bad,
    Neutral,
    Warning,
}

/// <summary>
/// Human-readable output on stdout: headings, aligned key/value lists, tables and marked lines.
/// <see cref="PlainRenderer"/> when stdout is redirected (no colours, no box drawing, no wrapping);
/// <see cref="RichRenderer"/> on a terminal.
/// </summary>
internal abstract class Renderer
{
    public static Renderer For(CliConsole console) =>
        console.OutputIsTerminal ? new RichRenderer(console.Out) : new PlainRenderer(console.Out);

    /// <summary>A plain line.</summary>
    public abstract void Line(string text = "");

    /// <summary>A section title.</summary>
    public abstract void Heading(string text);

    /// <summary>A line marked as good (green tick), bad (red cross), neutral or a warning.</summary>
    public abstract void Marked(Mark mark, string label, string text);

    /// <summary>Keys and values, the values aligned in one column.</summary>
    public abstract void KeyValues(IReadOnlyList<(string Key, string Value)> rows);

    /// <summary>A table with a header row.</summary>
    public abstract void Table(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows);

    /// <summary>
    /// The width, in characters, that output is wrapped to (a terminal's), or null when it is not
    /// wrapped (redirected output: lines as long as they come).
    /// </summary>
    public virtual int? Width => null;

    /// <summary>
    /// A table whose first column (names, addresses) may wrap and whose other columns (figures)
    /// never do. The first column wraps at sensible points (after <c>/</c>, <c>:</c>, <c>.</c>,
    /// <c>-</c> or a space), not within a run of letters or digits where it can avoid it. Unwrapped
    /// output writes it as <see cref="Table"/> does.
    /// </summary>
    public virtual void TableOfFigures(IReadOnlyList<string> headers, IReadOnlyList<IReadOnlyList<string>> rows) => Table(headers, rows);
}
