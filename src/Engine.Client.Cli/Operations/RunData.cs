namespace Engine.Client.Cli.Operations;

/// <summary>The input of a run could not be read: exit 2, <c>error.kind</c> = <c>input</c>.</summary>
internal sealed class InputReadException(string message, Exception? innerException) : Exception(message, innerException)
{
    public InputReadException()
        : this("The input could not be read.", null)
    {
    }

    public InputReadException(string message)
        : this(message, null)
    {
    }
}

/// <summary>The output of a run could not be written: exit 2, <c>error.kind</c> = <c>output</c>.</summary>
internal sealed class OutputWriteException(string message, Exception? innerException) : Exception(message, innerException)
{
    public OutputWriteException()
        : this("The output could not be written.", null)
    {
    }

    public OutputWriteException(string message)
        : this(message, null)
    {
    }
}

/// <summary>
/// The data side of a run: what goes into Init besides the payload (schemas), the input batches,
/// and what happens to the output (written, or kept as a preview).
/// </summary>
internal interface IRunData : IAsyncDisposable
{
    /// <summary>Where the output goes (a path or <c>-</c>), or <see langword="null"/> when it is only summarized.</summary>
    string? OutputPath { get; }

    /// <summary>The first output rows or batches, when the output is only summarized.</summary>
    OutputPreview? Preview { get; }

    /// <summary>Adds what the data needs to Init (for Arrow: the input schema).</summary>
    void Configure(SessionInit init);

    /// <summary>Takes what the worker answered to Init (for Arrow: its declared output schema, if any).</summary>
    void Initialized(SessionInitResult result);

    /// <summary>
    /// Streams the input and consumes the output of an initialized session until the worker's
    /// terminator. Throws <see cref="InputReadException"/> or <see cref="OutputWriteException"/> for
    /// local failures; worker and transport failures surface as the SDK's exceptions.
    /// </summary>
    Task ProcessAsync(WorkerSession session, RunState state, CancellationToken cancellationToken);
}

/// <summary>A short, printable description of some bytes: the text when it is printable UTF-8, hex otherwise.</summary>
internal static class BytePreview
{
    public const int MaxChars = 48;

    public static string Describe(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return "(empty)";
        }

        if (IsPrintableUtf8(bytes, out var text))
        {
            return text.Length <= MaxChars ? $"\"{text}\"" : $"\"{text[..MaxChars]}\"...";
        }

        var shown = bytes[..Math.Min(bytes.Length, MaxChars / 2)];
        var hex = Convert.ToHexString(shown).ToLowerInvariant();
        return shown.Length < bytes.Length ? $"0x{hex}..." : $"0x{hex}";
    }

    private static bool IsPrintableUtf8(ReadOnlySpan<byte> bytes, out string text)
    {
        text = string.Empty;
        try
        {
            text = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (System.Text.DecoderFallbackException)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (char.IsControl(c) && c is not ('\t' or '\n' or '\r'))
            {
                return false;
            }
        }

        text = text.ReplaceLineEndings(" ");
        return true;
    }
}
