using System.Runtime.CompilerServices;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Engine.Client.Cli.Operations;
using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli.Arrow;

/// <summary>
/// A run over Arrow record batches: the input read from an Arrow IPC file or stream (or none), its
/// schema declared in Init; the output written as an Arrow IPC file or stream, or summarized with
/// its first rows kept for a table.
/// </summary>
internal sealed class ArrowRunData : IRunData
{
    private readonly ArrowInput? _input;
    private readonly ArrowOutput? _output;
    private readonly int _previewLimit;
    private readonly List<IReadOnlyList<string>> _preview = [];
    private IReadOnlyList<string> _columns = [];
    private bool _complete = true;

    public ArrowRunData(ArrowInput? input, ArrowOutput? output, int previewLimit)
    {
        _input = input;
        _output = output;
        _previewLimit = previewLimit;
    }

    public string? OutputPath => _output?.Path;

    public OutputPreview? Preview => _output is null ? new OutputPreview(_columns, _preview, _complete) : null;

    /// <summary>The input's schema, declared as the session's input schema.</summary>
    public void Configure(SessionInit init)
    {
        ArgumentNullException.ThrowIfNull(init);
        if (_input is not null)
        {
            init.InputArrowSchema = _input.Schema;
        }
    }

    public async Task ProcessAsync(WorkerSession session, RunState state, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(state);
        state.CountsRows = true;
        var input = _input is null ? NoInput() : _input.ReadAsync(state, CancellationToken.None);
        await foreach (var batch in session.ProcessAsync(input, cancellationToken))
        {
            using (batch)
            {
                state.AddRowsReceived(batch.Length);
                if (_output is not null)
                {
                    await _output.WriteAsync(batch, cancellationToken);
                }
                else
                {
                    KeepPreview(batch);
                }
            }
        }

        if (_output is not null)
        {
            await _output.CompleteAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_input is not null)
        {
            await _input.DisposeAsync();
        }

        if (_output is not null)
        {
            await _output.DisposeAsync();
        }
    }

    private void KeepPreview(RecordBatch batch)
    {
        if (_columns.Count == 0)
        {
            _columns = [.. batch.Schema.FieldsList.Select(f => f.Name)];
        }

        for (var row = 0; row < batch.Length; row++)
        {
            if (_preview.Count >= _previewLimit)
            {
                _complete = false;
                return;
            }

            var cells = new string[batch.ColumnCount];
            for (var column = 0; column < batch.ColumnCount; column++)
            {
                cells[column] = ArrowCells.Format(batch.Column(column), row);
            }

            _preview.Add(cells);
        }
    }

    private static async IAsyncEnumerable<RecordBatch> NoInput()
    {
        await Task.CompletedTask;
        yield break;
    }
}

/// <summary>
/// The input: an Arrow IPC file (seekable, starts with <c>ARROW1</c>) or an Arrow IPC stream
/// (anything else, and always for stdin). Opened and its schema read before the session starts,
/// so an unreadable input is a usage error (exit 2) and the schema can go into Init.
/// </summary>
internal sealed class ArrowInput : IAsyncDisposable
{
    private static ReadOnlySpan<byte> FileMagic => "ARROW1"u8;

    private readonly Stream _stream;
    private readonly IArrowReader _reader;
    private readonly string _name;

    private ArrowInput(Stream stream, IArrowReader reader, Schema schema, string name)
    {
        _stream = stream;
        _reader = reader;
        Schema = schema;
        _name = name;
    }

    public Schema Schema { get; }

    /// <summary>Opens <paramref name="path"/> (or stdin for <c>-</c>) and reads its schema.</summary>
    /// <exception cref="UsageException">The input cannot be read or is not Arrow IPC.</exception>
    /// <exception cref="OperationCanceledException">Interrupted while waiting for the schema on stdin.</exception>
    public static async Task<ArrowInput> OpenAsync(string path, Func<Stream> openStandardInput, CancellationToken cancellationToken)
    {
        var stdin = path == "-";
        var name = stdin ? "stdin" : $"'{path}'";
        var stream = stdin ? openStandardInput() : InputFiles.OpenRead(path, "--input");
        try
        {
            var isFile = !stdin && await StartsWithFileMagicAsync(stream, path, cancellationToken);
            IArrowReader reader = isFile ? new ArrowFileReader(stream, leaveOpen: true) : new ArrowStreamReader(stream, leaveOpen: true);

            // Reading the schema blocks until stdin delivers it; an interrupt abandons the wait.
            Schema schema;
            try
            {
                schema = await Task.Run(() => ReadSchema(reader), CancellationToken.None).WaitAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                ((IDisposable)reader).Dispose();
                throw new UsageException($"--input {name} is not an Arrow IPC {(isFile ? "file" : "stream")}: {CliApp.OneLine(ex.Message)} Give an Arrow IPC file or stream (for example one written by pyarrow or engine-client --output).", ex);
            }

            return new ArrowInput(stream, reader, schema, name);
        }
        catch
        {
            if (!stdin)
            {
                await stream.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>The batches, counted as they go; each one is disposed when the session asks for the next.</summary>
    public async IAsyncEnumerable<RecordBatch> ReadAsync(Operations.RunState state, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        RecordBatch? previous = null;
        try
        {
            while (true)
            {
                previous?.Dispose();
                previous = null;
                RecordBatch? batch;
                try
                {
                    batch = await _reader.ReadNextRecordBatchAsync(cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    throw new InputReadException($"--input {_name} could not be read: {CliApp.OneLine(ex.Message)}", ex);
                }

                if (batch is null)
                {
                    yield break;
                }

                state.AddRowsSent(batch.Length);
                previous = batch;
                yield return batch;
            }
        }
        finally
        {
            previous?.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        ((IDisposable)_reader).Dispose();
        if (_name != "stdin")
        {
            await _stream.DisposeAsync();
        }
    }

    private static Schema ReadSchema(IArrowReader reader) => reader switch
    {
        ArrowFileReader file => file.Schema,
        ArrowStreamReader stream => stream.Schema,
        _ => throw new InvalidOperationException("Unknown Arrow reader."),
    };

    private static async Task<bool> StartsWithFileMagicAsync(Stream stream, string path, CancellationToken cancellationToken)
    {
        var head = new byte[FileMagic.Length];
        int read;
        try
        {
            read = await stream.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken);
            stream.Position = 0;
        }
        catch (IOException ex)
        {
            throw new UsageException($"--input '{path}': {InputFiles.Describe(path, ex)}", ex);
        }

        if (read == 0)
        {
            throw new UsageException($"--input '{path}' is empty; give an Arrow IPC file or stream.");
        }

        return read == head.Length && head.AsSpan().SequenceEqual(FileMagic);
    }
}

/// <summary>
/// The output: an Arrow IPC file, or an Arrow IPC stream on stdout for <c>-</c>. The writer is
/// created with the first output batch's schema; when no batch comes back, the file or stream
/// holds an empty schema and no batches.
/// </summary>
internal sealed class ArrowOutput : IAsyncDisposable
{
    private readonly Stream _stream;
    private readonly bool _stdout;
    private ArrowStreamWriter? _writer;
    private bool _completed;

    private ArrowOutput(Stream stream, string path, bool stdout)
    {
        _stream = stream;
        Path = path;
        _stdout = stdout;
    }

    /// <summary>The file path, or <c>-</c> for stdout.</summary>
    public string Path { get; }

    /// <summary>Creates (truncates) the file now, so an unwritable path is a usage error before the run.</summary>
    /// <exception cref="UsageException">The file cannot be created.</exception>
    public static ArrowOutput Create(string path, Func<Stream> openStandardOutput) => path == "-"
        ? new ArrowOutput(openStandardOutput(), path, stdout: true)
        : new ArrowOutput(InputFiles.Create(path, "--output"), path, stdout: false);

    public async Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken)
    {
        try
        {
            _writer ??= NewWriter(batch.Schema);
            await _writer.WriteRecordBatchAsync(batch, cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new OutputWriteException($"--output {Describe()} could not be written: {CliApp.OneLine(ex.Message)}", ex);
        }
    }

    /// <summary>Writes the end of the file or stream (an empty schema when no batch came back).</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        try
        {
            _writer ??= NewWriter(new Schema.Builder().Build());
            await _writer.WriteEndAsync(cancellationToken);
            await _stream.FlushAsync(cancellationToken);
            if (!_stdout)
            {
                // Closing the file here, not in DisposeAsync, so that a failure of its last
                // write (a full disk) is the run's output error, not an unexpected one after it.
                await _stream.DisposeAsync();
            }

            _completed = true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new OutputWriteException($"--output {Describe()} could not be written: {CliApp.OneLine(ex.Message)}", ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _writer?.Dispose();
            if (_stdout || _completed)
            {
                return;
            }

            await _stream.DisposeAsync();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            // The run did not complete its output (an error or an interrupt ended it first, and
            // the report says so): what the buffer still held cannot be written either.
        }
    }

    private ArrowStreamWriter NewWriter(Schema schema) =>
        _stdout ? new ArrowStreamWriter(_stream, schema, leaveOpen: true) : new ArrowFileWriter(_stream, schema, leaveOpen: true);

    private string Describe() => _stdout ? "(stdout)" : $"'{Path}'";
}
