using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Apache.Arrow;
using Apache.Arrow.Types;
using DuckDB.NET.Data.DataChunk.Reader;
using DuckDB.NET.Data.DataChunk.Writer;
using Engine.Client;

namespace DuckDbUdf;

/// <summary>
/// The same scalar function as <see cref="WorkerScalarFunction"/>, with one session per DuckDB
/// thread kept open across vectors instead of one per vector: each vector is one more input batch
/// of the thread's session, and the next output batch is its answer. DuckDB's scalar functions have
/// no end-of-query callback, so the engine finishes the sessions itself after the query
/// (<see cref="FinishAsync"/>).
/// </summary>
/// <remarks>
/// This relies on the UDF answering exactly one output batch per input batch, as the reference
/// worker's <c>add</c> does; the protocol does not promise it in general (a worker may batch its
/// output differently), which is why <see cref="WorkerScalarFunction"/> is the default.
/// </remarks>
internal sealed class StreamingScalarFunction(WorkerPool pool, string program, CancellationToken cancellation)
{
    private static readonly Schema InputSchema = new Schema.Builder()
        .Field(field => field.Name("x").DataType(Int64Type.Default).Nullable(true))
        .Build();

    private readonly byte[] _program = Encoding.UTF8.GetBytes(program);
    private readonly ConcurrentDictionary<int, ThreadSession> _sessions = new();

    /// <summary>DuckDB's callback: one vector in, its answer out, on this thread's session.</summary>
    public void Invoke(IReadOnlyList<IDuckDBDataReader> readers, IDuckDBDataWriter writer, ulong rowCount)
    {
        var thread = Environment.CurrentManagedThreadId;
        if (!_sessions.TryGetValue(thread, out var session))
        {
            // Only this thread adds its own key: no race on the open.
            session = ThreadSession.OpenAsync(pool, _program, cancellation).GetAwaiter().GetResult();
            _sessions[thread] = session;
        }

        var rows = checked((int)rowCount);
        var input = readers[0];
        var builder = new Int64Array.Builder().Reserve(rows);
        for (var row = 0; row < rows; row++)
        {
            if (input.IsValid((ulong)row))
            {
                builder.Append(input.GetValue<long>((ulong)row));
            }
            else
            {
                builder.AppendNull();
            }
        }

        using var batch = new RecordBatch(InputSchema, [builder.Build()], rows);
        using var output = session.ExchangeAsync(batch).GetAwaiter().GetResult();
        if (output.Length != rows || output.ColumnCount == 0 || output.Column(0) is not Int64Array values)
        {
            throw new InvalidOperationException($"the worker answered a batch of {output.Length} rows for a vector of {rows}, or not int64: a session per thread needs one int64 batch per vector.");
        }

        for (var row = 0; row < rows; row++)
        {
            if (values.GetValue(row) is { } value)
            {
                writer.WriteValue(value, (ulong)row);
            }
            else
            {
                writer.WriteNull((ulong)row);
            }
        }
    }

    /// <summary>After the query: ends every thread's input, closes its session, and returns the outcomes.</summary>
    public async Task<IReadOnlyList<SessionOutcome>> FinishAsync()
    {
        var outcomes = new List<SessionOutcome>();
        foreach (var (thread, session) in _sessions)
        {
            _sessions.TryRemove(thread, out _);
            outcomes.Add(await session.FinishAsync());
        }

        return outcomes;
    }

    private sealed class ThreadSession
    {
        private readonly WorkerSession _session;
        private readonly Channel<RecordBatch> _input = Channel.CreateBounded<RecordBatch>(1);
        private readonly IAsyncEnumerator<RecordBatch> _output;

        private ThreadSession(WorkerSession session, CancellationToken cancellation)
        {
            _session = session;
            _output = session.ProcessAsync(_input.Reader.ReadAllAsync(cancellation), cancellation).GetAsyncEnumerator(cancellation);
        }

        public static async Task<ThreadSession> OpenAsync(WorkerPool pool, byte[] program, CancellationToken cancellation)
        {
            var session = await pool.OpenSessionAsync(cancellationToken: cancellation);
            try
            {
                await session.InitAsync(SessionInit.ForArrow(program, "builtin", InputSchema), cancellation);
                return new ThreadSession(session, cancellation);
            }
            catch
            {
                await session.DisposeAsync();
                throw;
            }
        }

        /// <summary>Sends one batch and waits for the next output batch.</summary>
        public async Task<RecordBatch> ExchangeAsync(RecordBatch batch)
        {
            await _input.Writer.WriteAsync(batch);
            return await _output.MoveNextAsync()
                ? _output.Current
                : throw new InvalidOperationException("the worker ended its output before answering a vector.");
        }

        public async Task<SessionOutcome> FinishAsync()
        {
            _input.Writer.TryComplete();
            try
            {
                while (await _output.MoveNextAsync())
                {
                    _output.Current.Dispose();
                    throw new InvalidOperationException("the worker answered more batches than it was sent.");
                }
            }
            catch (WorkerException)
            {
                // The outcome says what went wrong.
            }
            finally
            {
                await _output.DisposeAsync();
            }

            return await _session.CloseAsync();
        }
    }
}
