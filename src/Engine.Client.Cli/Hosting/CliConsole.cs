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

    /// <summary>Opens stdout as bytes (for <c>--output -</c>); a write that fails throws <see cref="IOException"/>.</summary>
    public Func<Stream> OpenStandardOutput { get; }

    /// <summary>
    /// Why writing to <see cref="Out"/> failed (a closed pipe, a full disk, a closed descriptor), or
    /// <see langword="null"/> while every write succeeded (or when the writer cannot tell).
    /// </summary>
    public Exception? OutputFailure => (Out as FailSafeWriter)?.Failure;

    /// <summary>
    /// The process's own console. On Unix, stdout and stderr are written through
    /// <see cref="DescriptorStream"/>, which sees a closed pipe or a full disk; stdout's text keeps
    /// the first failure (<see cref="OutputFailure"/>), stderr drops what it cannot write. A
    /// terminal stdout stays <see cref="Console.Out"/> (it cannot be a closed pipe or a full disk,
    /// and the rich renderer detects the terminal through it).
    /// </summary>
    public static CliConsole System()
    {
        if (OperatingSystem.IsWindows())
        {
            return new(Console.Out, Console.Error, !Console.IsOutputRedirected, Console.OpenStandardInput, Console.OpenStandardOutput);
        }

        var stdoutUsable = StandardStreams.IsUsable(1);
        var stdout = new DescriptorStream(1, "stdout", stdoutUsable);
        var stderr = new DescriptorStream(2, "stderr", StandardStreams.IsUsable(2));
        var terminal = stdoutUsable && !Console.IsOutputRedirected;
        var stdinUsable = StandardStreams.IsStandardInputUsable();
        return new(
            terminal ? Console.Out : new FailSafeWriter(stdout),
            new FailSafeWriter(stderr),
            terminal,
            stdinUsable ? Console.OpenStandardInput : () => new ClosedInputStream("stdin is closed (its file descriptor is not open for reading)."),
            () => stdout);
    }
}
