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
    private Schema? _declaredOutput;

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
            init.InputSchema = _input.Schema;
        }
    }

    /// <summary>
    /// The output schema the worker declared in <c>InitResponse.data</c> (a schema-only Arrow IPC
    /// stream, as the reference worker's UDFs answer), kept for an output with no batch.
    /// </summary>
    public void Initialized(SessionInitResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        _declaredOutput = ArrowSchemaText.TryRead(result.Data);
        if (_output is not null)
        {
            _output.DeclaredSchema = _declaredOutput;
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
        else if (_columns.Count == 0 && _declaredOutput is not null)
        {
            // No batch came back: the table still shows the declared columns, with no rows.
            _columns = [.. _declaredOutput.FieldsList.Select(f => f.Name)];
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
/// The input: an Arrow IPC file (starts with <c>ARROW1</c>) or an Arrow IPC stream (anything
/// else), from a path, a device, a pipe or stdin alike. Opened and its schema read before the
/// session starts, so an unreadable input is a usage error (exit 2) and the schema can go into
/// Init. An input without a schema (no bytes at all, or an end-of-stream marker first, as
/// <c>/dev/zero</c> gives) is not Arrow: refused the same way, naming the input.
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
    /// <exception cref="UsageException">The input cannot be read, is empty, has no schema or is not Arrow IPC.</exception>
    /// <exception cref="OperationCanceledException">Interrupted while waiting for the schema on stdin.</exception>
    public static async Task<ArrowInput> OpenAsync(string path, Func<Stream> openStandardInput, CancellationToken cancellationToken)
    {
        var stdin = path == "-";
        var name = stdin ? "stdin" : $"'{path}'";
        var stream = stdin ? openStandardInput() : InputFiles.OpenRead(path, "--input");
        try
        {
            // Reading blocks until stdin (or a pipe) delivers; an interrupt abandons the wait.
            var (reader, schema) = await Task.Run(() => Open(stream, path, name), CancellationToken.None).WaitAsync(cancellationToken);
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

    /// <summary>
    /// The batches. A batch's rows count as sent once the session asks for the next batch (it has
    /// then written every data message of it) or the input ends; each batch is disposed then.
    /// </summary>
    public async IAsyncEnumerable<RecordBatch> ReadAsync(Operations.RunState state, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        RecordBatch? previous = null;
        try
        {
            while (true)
            {
                if (previous is not null)
                {
                    state.AddRowsSent(previous.Length);
                    previous.Dispose();
                    previous = null;
                }

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

    private static (IArrowReader Reader, Schema Schema) Open(Stream stream, string path, string name)
    {
        var head = new byte[8];
        int read;
        try
        {
            read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (IOException ex)
        {
            throw new UsageException($"--input {name}: {InputFiles.Describe(path, ex)}", ex);
        }

        if (read == 0)
        {
            throw new UsageException($"--input {name} is empty (0 bytes), so it holds no Arrow schema: it is not an Arrow IPC file or stream. Give an Arrow IPC file or stream, or leave out --input for a run without input.");
        }

        var isFile = read >= FileMagic.Length && head.AsSpan(0, FileMagic.Length).SequenceEqual(FileMagic);
        IArrowReader reader;
        if (isFile && stream.CanSeek)
        {
            stream.Position = 0;
            reader = new ArrowFileReader(stream, leaveOpen: true);
        }
        else if (isFile)
        {
            // A file on stdin or a pipe: its schema and batch index are in the footer, at the end,
            // so it is read whole into memory first.
            var whole = new MemoryStream();
            whole.Write(head, 0, read);
            try
            {
                stream.CopyTo(whole);
            }
            catch (IOException ex)
            {
                throw new UsageException($"--input {name}: {InputFiles.Describe(path, ex)}", ex);
            }

            whole.Position = 0;
            reader = new ArrowFileReader(whole, leaveOpen: false);
        }
        else
        {
            reader = new ArrowStreamReader(new PrefixedStream(head.AsMemory(0, read), stream), leaveOpen: true);
        }

        Schema? schema;
        try
        {
            schema = reader switch
            {
                ArrowFileReader file => file.Schema,
                ArrowStreamReader streamReader => streamReader.Schema,
                _ => null,
            };
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            ((IDisposable)reader).Dispose();
            throw new UsageException($"--input {name} is not an Arrow IPC {(isFile ? "file" : "stream")}: {CliApp.OneLine(ex.Message)} Give an Arrow IPC file or stream (for example one written by pyarrow or engine-client --output).", ex);
        }

        if (schema is null)
        {
            ((IDisposable)reader).Dispose();
            throw new UsageException($"--input {name} holds no Arrow schema: it starts with an end-of-stream marker ({BytePreview.Describe(head.AsSpan(0, read))}), so it is not an Arrow IPC file or stream. Give an Arrow IPC file or stream, or leave out --input for a run without input.");
        }

        return (reader, schema);
    }

    /// <summary>Bytes already read from a stream, then the rest of it: a look at the head without seeking.</summary>
    private sealed class PrefixedStream(ReadOnlyMemory<byte> head, Stream rest) : Stream
    {
        private ReadOnlyMemory<byte> _head = head;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_head.IsEmpty)
            {
                return rest.Read(buffer);
            }

            var count = Math.Min(buffer.Length, _head.Length);
            _head.Span[..count].CopyTo(buffer);
            _head = _head[count..];
            return count;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_head.IsEmpty)
            {
                return await rest.ReadAsync(buffer, cancellationToken);
            }

            return Read(buffer.Span);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>
/// The output: an Arrow IPC file, or an Arrow IPC stream on stdout for <c>-</c>, with the first
/// output batch's schema; when no batch comes back, with the output schema the worker declared
/// (<see cref="DeclaredSchema"/>), else with an empty schema. Each batch is written with its own
/// dictionaries: the stream carries a replacement dictionary batch whenever a column's dictionary
/// changes; the file format holds one dictionary per column, so a change there fails the run.
/// </summary>
internal sealed class ArrowOutput : IAsyncDisposable
{
    private static readonly byte[] EndOfStream = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];

    private readonly Stream _stream;
    private readonly bool _stdout;
    private readonly ArrowBatchMessages _messages = new();
    private ArrowFileWriter? _fileWriter;
    private Schema? _schema;
    private List<string> _dictionaryFields = [];
    private byte[][] _dictionaries = [];
    private long _index;
    private bool _completed;

    private ArrowOutput(Stream stream, string path, bool stdout)
    {
        _stream = stream;
        Path = path;
        _stdout = stdout;
    }

    /// <summary>The file path, or <c>-</c> for stdout.</summary>
    public string Path { get; }

    /// <summary>The output schema the worker declared at Init, written when no batch comes back.</summary>
    public Schema? DeclaredSchema { get; set; }

    /// <summary>Creates (truncates) the file now, so an unwritable path is a usage error before the run.</summary>
    /// <exception cref="UsageException">The file cannot be created.</exception>
    public static ArrowOutput Create(string path, Func<Stream> openStandardOutput) => path == "-"
        ? new ArrowOutput(openStandardOutput(), path, stdout: true)
        : new ArrowOutput(InputFiles.Create(path, "--output"), path, stdout: false);

    public async Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken)
    {
        try
        {
            if (_stdout)
            {
                await WriteStreamAsync(batch, cancellationToken);
            }
            else
            {
                CheckFileDictionaries(batch);
                _fileWriter ??= new ArrowFileWriter(_stream, batch.Schema, leaveOpen: true);
                await _fileWriter.WriteRecordBatchAsync(batch, cancellationToken);
            }

            _index++;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new OutputWriteException($"--output {Describe()} could not be written: {CliApp.OneLine(ex.Message)}", ex);
        }
    }

    /// <summary>Writes the end of the file or stream (the declared or an empty schema when no batch came back).</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (_stdout)
            {
                if (_schema is null)
                {
                    using var writer = new ArrowStreamWriter(_stream, DeclaredSchema ?? new Schema.Builder().Build(), leaveOpen: true);
                    await writer.WriteStartAsync(cancellationToken);
                    await writer.WriteEndAsync(cancellationToken);
                }
                else
                {
                    await _stream.WriteAsync(EndOfStream, cancellationToken);
                }
            }
            else
            {
                if (_fileWriter is null)
                {
                    // No batch came back: the file still starts with its magic and schema.
                    _fileWriter = new ArrowFileWriter(_stream, DeclaredSchema ?? new Schema.Builder().Build(), leaveOpen: true);
                    await _fileWriter.WriteStartAsync(cancellationToken);
                }

                await _fileWriter.WriteEndAsync(cancellationToken);
            }

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
            _fileWriter?.Dispose();
            _messages.Dispose();
            if (_stdout || _completed)
            {
                return;
            }

            await _stream.DisposeAsync();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ObjectDisposedException)
        {
            // The run did not complete its output (an error or an interrupt ended it first, and
            // the report says so): what the buffer still held cannot be written either.
        }
    }

    /// <summary>
    /// The stream: the schema and dictionaries with the first batch, then each batch preceded by
    /// the dictionaries that differ from the ones last written for their id (replacements).
    /// </summary>
    private async Task WriteStreamAsync(RecordBatch batch, CancellationToken cancellationToken)
    {
        _messages.Encode(batch);
        if (_schema is null)
        {
            _schema = batch.Schema;
            _dictionaries = new byte[_messages.DictionaryCount][];
            await _stream.WriteAsync(_messages.Schema, cancellationToken);
        }

        for (var id = 0; id < _messages.DictionaryCount && id < _dictionaries.Length; id++)
        {
            var dictionary = _messages.Dictionary(id);
            if (_dictionaries[id] is { } written && dictionary.Span.SequenceEqual(written))
            {
                continue;
            }

            _dictionaries[id] = dictionary.ToArray();
            await _stream.WriteAsync(_dictionaries[id], cancellationToken);
        }

        await _stream.WriteAsync(_messages.Batch, cancellationToken);
    }

    /// <summary>
    /// The file format holds one dictionary per column for the whole file (no replacement, and
    /// Apache.Arrow writes no deltas): a batch whose dictionary differs from the first batch's is
    /// refused rather than written against the first batch's dictionary.
    /// </summary>
    /// <exception cref="OutputWriteException">A dictionary differs from the one already written.</exception>
    private void CheckFileDictionaries(RecordBatch batch)
    {
        if (_schema is null)
        {
            _schema = batch.Schema;
            _dictionaryFields = ArrowBatchMessages.DictionaryFields(batch.Schema);
            if (_dictionaryFields.Count == 0)
            {
                return;
            }

            _messages.Encode(batch);
            _dictionaries = new byte[_messages.DictionaryCount][];
            for (var id = 0; id < _messages.DictionaryCount; id++)
            {
                _dictionaries[id] = _messages.Dictionary(id).ToArray();
            }

            return;
        }

        if (_dictionaryFields.Count == 0)
        {
            return;
        }

        _messages.Encode(batch);
        for (var id = 0; id < _messages.DictionaryCount && id < _dictionaries.Length; id++)
        {
            if (!_messages.Dictionary(id).Span.SequenceEqual(_dictionaries[id]))
            {
                var column = id < _dictionaryFields.Count ? $"column '{_dictionaryFields[id]}'" : $"dictionary {id}";
                throw new OutputWriteException(
                    $"--output {Describe()}: output batch {_index} brings a different dictionary for {column} than the batches before it, and an Arrow IPC file holds one dictionary per column (no replacement dictionaries); nothing of that batch was written. Write an Arrow IPC stream instead (--output - > file.arrows), which carries the replacement.");
            }
        }
    }

    private string Describe() => _stdout ? "(stdout)" : $"'{Path}'";
}
