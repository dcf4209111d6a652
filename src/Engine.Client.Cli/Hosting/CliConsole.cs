namespace Engine.Client.Cli.Hosting;

/// <summary>
/// Where a command writes: results on <see cref="Out"/>, diagnostics and progress on
/// <see cref="Error"/>; whether stdout is a terminal (rich rendering) or redirected (plain text).
/// </summary>
internal sealed class CliConsole
{
    public CliConsole(TextWriter output, TextWriter error, bool outputIsTerminal, Func<Stream> openStandardInput, Func<Stream> openStandardOutput)
    {
        Out = output;
        Error = error;
        OutputIsTerminal = outputIsTerminal;
        OpenStandardInput = openStandardInput;
        OpenStandardOutput = openStandardOutput;
    }

    /// <summary>Results: the summary, tables, JSON, addresses.</summary>
    public TextWriter Out { get; }

    /// <summary>Errors, warnings and progress.</summary>
    public TextWriter Error { get; }

    /// <summary>Whether stdout is a terminal; redirected output stays plain (no colours, no box drawing).</summary>
    public bool OutputIsTerminal { get; }

    /// <summary>Opens stdin as bytes (for <c>--input -</c>).</summary>
    public Func<Stream> OpenStandardInput { get; }

    /// <summary>Opens stdout as bytes (for <c>--output -</c>).</summary>
    public Func<Stream> OpenStandardOutput { get; }

    /// <summary>The process's own console.</summary>
    public static CliConsole System() => new(
        Console.Out,
        Console.Error,
        !Console.IsOutputRedirected,
        Console.OpenStandardInput,
        Console.OpenStandardOutput);
}
