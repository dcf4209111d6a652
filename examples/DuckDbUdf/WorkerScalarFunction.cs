using System.Collections.Concurrent;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;
using DuckDB.NET.Data.DataChunk.Reader;
using DuckDB.NET.Data.DataChunk.Writer;
using Engine.Client;

namespace DuckDbUdf;

/// <summary>
/// A DuckDB scalar function <c>BIGINT -> BIGINT</c> that runs a builtin program of the reference
/// worker: each DuckDB vector (up to 2048 rows) becomes one Arrow record batch with one int64
/// column <c>x</c>, sent through its own session on the shared pool; the output batch's first
/// column is written back into DuckDB's result vector, row for row, in order.
/// </summary>
/// <remarks>
/// DuckDB calls <see cref="Invoke"/> on its own threads, several at once, synchronously. The call
/// blocks on the session with <c>GetAwaiter().GetResult()</c>: DuckDB's threads have no
/// synchronization context, and the session's continuations run on the thread pool, which DuckDB's
/// threads are not part of. Any failure (the worker's user error, a lost worker, a cancelled query)
/// is thrown from the callback, and DuckDB.NET turns it into the query's error.
/// </remarks>
internal sealed class WorkerScalarFunction(WorkerPool pool, string program, CancellationToken cancellation)
{
    private static readonly Schema InputSchema = new Schema.Builder()
        .Field(field => field.Name("x").DataType(Int64Type.Default).Nullable(true))
        .Build();

    private readonly byte[] _program = Encoding.UTF8.GetBytes(program);
    private readonly ConcurrentDictionary<int, byte> _threads = new();
    private long _calls;
    private long _rows;
    private int _active;
    private int _maxActive;

    /// <summary>Calls so far, one per DuckDB vector, each a session.</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>Rows sent through workers so far.</summary>
    public long Rows => Interlocked.Read(ref _rows);

    /// <summary>The distinct DuckDB threads that called the function.</summary>
    public int Threads => _threads.Count;

    /// <summary>The most calls (sessions) in flight at once.</summary>
    public int MaxConcurrentCalls => Volatile.Read(ref _maxActive);

    /// <summary>DuckDB's callback: one vector of <paramref name="rowCount"/> rows in, the same rows out.</summary>
    public void Invoke(IReadOnlyList<IDuckDBDataReader> readers, IDuckDBDataWriter writer, ulong rowCount)
    {
        _threads.TryAdd(Environment.CurrentManagedThreadId, 0);
        var active = Interlocked.Increment(ref _active);
        for (var max = Volatile.Read(ref _maxActive); active > max; max = Volatile.Read(ref _maxActive))
        {
            if (Interlocked.CompareExchange(ref _maxActive, active, max) == max)
            {
                break;
            }
        }

        try
        {
            var rows = checked((int)rowCount);
            using var batch = ToBatch(readers[0], rows);
            var outputs = RunAsync(batch).GetAwaiter().GetResult();
            Write(outputs, writer, rows);
            Interlocked.Increment(ref _calls);
            Interlocked.Add(ref _rows, rows);
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    private static RecordBatch ToBatch(IDuckDBDataReader input, int rows)
    {
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

        return new RecordBatch(InputSchema, [builder.Build()], rows);
    }

    /// <summary>One session: Init, the vector as one batch, every output batch in order, Finish.</summary>
    private async Task<List<RecordBatch>> RunAsync(RecordBatch batch)
    {
        await using var session = await pool.OpenSessionAsync(cancellationToken: cancellation);
        await session.InitAsync(SessionInit.ForArrow(_program, "builtin", InputSchema), cancellation);
        var outputs = new List<RecordBatch>(1);
        await foreach (var output in session.ProcessAsync(One(batch), cancellation))
        {
            outputs.Add(output);
        }

        var outcome = await session.CloseAsync(cancellation);
        if (outcome.Kind != SessionOutcomeKind.Finished)
        {
            throw new InvalidOperationException($"the worker's session did not finish: {outcome}");
        }

        return outputs;
    }

    private static async IAsyncEnumerable<RecordBatch> One(RecordBatch batch)
    {
        await Task.CompletedTask;
        yield return batch;
    }

    private static void Write(List<RecordBatch> outputs, IDuckDBDataWriter writer, int rows)
    {
        var received = outputs.Sum(output => output.Length);
        if (received != rows)
        {
            throw new InvalidOperationException($"the worker answered {received} rows for a vector of {rows}: a scalar function needs one output row per input row.");
        }

        ulong index = 0;
        foreach (var output in outputs)
        {
            using (output)
            {
                if (output.ColumnCount == 0 || output.Column(0) is not Int64Array values)
                {
                    throw new InvalidOperationException($"the worker answered {(output.ColumnCount == 0 ? "no column" : output.Schema.GetFieldByIndex(0).DataType.Name)}, not int64.");
                }

                for (var row = 0; row < values.Length; row++, index++)
                {
                    if (values.GetValue(row) is { } value)
                    {
                        writer.WriteValue(value, index);
                    }
                    else
                    {
                        writer.WriteNull(index);
                    }
                }
            }
        }
    }
}
