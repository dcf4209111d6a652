// An embedded data engine running its UDFs in workers: DuckDB (in process, from the
// DuckDB.NET.Data.Full package) calls a scalar function per vector of up to 2048 rows; the function
// sends the vector as one Arrow batch through a session of a shared WorkerPool and writes the
// worker's output back into DuckDB's result. Every check prints a line; the exit code is 0 only
// when all of them held.
//
//   dotnet run --project examples/DuckDbUdf -- [--rows N] [--threads T] [--worker path/Engine.ReferenceWorker.dll]
//
// docs/embedding.md explains the pattern.
using System.Diagnostics;
using System.Globalization;
using DuckDB.NET.Data;
using DuckDbUdf;
using Engine.Client;

var rows = 1_000_000L;
var threads = 4;
var worker = Path.Combine(AppContext.BaseDirectory, "Engine.ReferenceWorker.dll");
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--rows" when i + 1 < args.Length:
            rows = long.Parse(args[++i], CultureInfo.InvariantCulture);
            break;
        case "--threads" when i + 1 < args.Length:
            threads = int.Parse(args[++i], CultureInfo.InvariantCulture);
            break;
        case "--worker" when i + 1 < args.Length:
            worker = Path.GetFullPath(args[++i]);
            break;
        default:
            Console.Error.WriteLine("usage: DuckDbUdf [--rows N] [--threads T] [--worker path/Engine.ReferenceWorker.dll]");
            return 2;
    }
}

if (rows < 2 || threads < 1)
{
    Console.Error.WriteLine("--rows must be at least 2 and --threads at least 1");
    return 2;
}

var failures = 0;
void Check(string what, bool held, string detail)
{
    Console.WriteLine($"{(held ? "ok" : "FAILED")}: {what}: {detail}");
    if (!held)
    {
        failures++;
    }
}

// Ctrl+C cancels the sessions in flight (a protocol Cancel each) and fails the query.
using var interrupt = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    interrupt.Cancel();
};

// Sessions of several DuckDB threads share the pool's workers (the reference worker runs
// concurrent sessions): up to 8 on one worker before the pool launches another.
await using var pool = WorkerPool.Create(ReferenceWorker.Specification(worker), new WorkerPoolOptions
{
    Name = "duckdb",
    MaxSessionsPerWorker = 8,
    MaxIdleWorkers = 2,
});
await pool.StartWorkersAsync(1, interrupt.Token);

using var connection = new DuckDBConnection("DataSource=:memory:");
connection.Open();
Execute(connection, $"SET threads = {threads}");
Execute(connection, $"CREATE TABLE numbers AS SELECT i FROM range({rows}) t(i)");
Console.WriteLine($"table: numbers, {rows} rows (BIGINT i = 0 .. {rows - 1}); DuckDB threads: {threads}");

var addOne = new WorkerScalarFunction(pool, "add x 1", interrupt.Token);
connection.RegisterScalarFunction<long, long>("worker_add_one", addOne.Invoke);
connection.RegisterScalarFunction<long, long>("local_add_one", (readers, writer, count) =>
{
    var input = readers[0];
    for (ulong row = 0; row < count; row++)
    {
        writer.WriteValue(input.GetValue<long>(row) + 1, row);
    }
});

// 1. Every row, exactly: the sum is the closed form, and no row differs from i + 1 (so no vector
//    came back out of order or shifted).
{
    var stopwatch = Stopwatch.StartNew();
    using var reader = Query(connection, "SELECT count(*), sum(y)::BIGINT, count(*) FILTER (WHERE y IS DISTINCT FROM i + 1) FROM (SELECT i, worker_add_one(i) AS y FROM numbers)");
    reader.Read();
    stopwatch.Stop();
    long count = reader.GetInt64(0), sum = reader.GetInt64(1), wrong = reader.GetInt64(2);
    var expected = rows * (rows + 1) / 2;
    Check("rows", count == rows, $"{count} rows, expected {rows}");
    Check("sum", sum == expected, $"sum(worker_add_one(i)) = {sum}, expected n(n+1)/2 = {expected}");
    Check("every row", wrong == 0, $"{wrong} rows where worker_add_one(i) <> i + 1");
    Check("sessions", addOne.Calls > 0 && addOne.Rows == rows, $"{addOne.Calls} sessions (one per DuckDB vector) carried {addOne.Rows} rows in {stopwatch.Elapsed.TotalSeconds:F2} s");
    // DuckDB scans a table in parallel by row group (122,880 rows): a table of one row group is
    // read by one thread, so this line informs rather than checks.
    Console.WriteLine($"threads: {addOne.Threads} DuckDB threads called the function, at most {addOne.MaxConcurrentCalls} sessions at once, on {pool.Workers.Count} worker(s)");
}

// 2. Spot rows, across vector boundaries.
{
    var spots = new[] { 0L, 1L, 2047L, 2048L, rows / 2, rows - 1 };
    using var reader = Query(connection, $"SELECT i, worker_add_one(i) FROM numbers WHERE i IN ({string.Join(", ", spots)}) ORDER BY i");
    var seen = new List<string>();
    var held = true;
    while (reader.Read())
    {
        long i = reader.GetInt64(0), y = reader.GetInt64(1);
        seen.Add($"{i} -> {y}");
        held &= y == i + 1;
    }

    Check("spot rows", held && seen.Count == spots.Distinct().Count(), string.Join(", ", seen));
}

// 3. A user error raised by the worker is the query's error, with the worker's message.
{
    var limit = rows / 2;
    var raising = new WorkerScalarFunction(pool, $"raise ValueError \"i is too large\" when x > {limit}; add x 1", interrupt.Token);
    connection.RegisterScalarFunction<long, long>("worker_checked", raising.Invoke);
    var message = ErrorOf(() => Query(connection, "SELECT sum(worker_checked(i)) FROM numbers").Dispose());
    Check("worker error", message?.Contains("ValueError", StringComparison.Ordinal) == true && message.Contains("i is too large", StringComparison.Ordinal),
        $"DuckDB query error: {FirstLine(message)}");
}

// 4. Cancellation: the token is cancelled after the first vector; the sessions in flight are
//    cancelled and the query fails rather than returning a partial result.
{
    using var cancel = CancellationTokenSource.CreateLinkedTokenSource(interrupt.Token);
    var slow = new WorkerScalarFunction(pool, "delay 20ms; add x 1", cancel.Token);
    connection.RegisterScalarFunction<long, long>("worker_cancelled", (readers, writer, count) =>
    {
        slow.Invoke(readers, writer, count);
        cancel.Cancel();
    });
    var message = ErrorOf(() => Query(connection, "SELECT sum(worker_cancelled(i)) FROM numbers").Dispose());
    Check("cancellation", message?.Contains("cancel", StringComparison.OrdinalIgnoreCase) == true, $"DuckDB query error: {FirstLine(message)}");
}

// 5. The pool serves the next query after the failed ones.
{
    using var reader = Query(connection, "SELECT sum(worker_add_one(i))::BIGINT FROM range(10000) t(i)");
    reader.Read();
    Check("after errors", reader.GetInt64(0) == 10000L * 10001 / 2, $"sum over 10000 rows = {reader.GetInt64(0)}");
}

// 6. The alternative: one session per DuckDB thread, kept open across vectors and finished by the
//    engine after the query. Every row checked the same way.
var streamed = new StreamingScalarFunction(pool, "add x 1", interrupt.Token);
connection.RegisterScalarFunction<long, long>("worker_add_one_streamed", streamed.Invoke);
{
    using (var reader = Query(connection, "SELECT sum(y)::BIGINT, count(*) FILTER (WHERE y IS DISTINCT FROM i + 1) FROM (SELECT i, worker_add_one_streamed(i) AS y FROM numbers)"))
    {
        reader.Read();
        Check("session per thread", reader.GetInt64(0) == rows * (rows + 1) / 2 && reader.GetInt64(1) == 0, $"sum {reader.GetInt64(0)}, {reader.GetInt64(1)} rows where worker_add_one_streamed(i) <> i + 1");
    }

    var outcomes = await streamed.FinishAsync();
    Check("session per thread, finished", outcomes.Count > 0 && outcomes.All(outcome => outcome.Kind == SessionOutcomeKind.Finished), $"{outcomes.Count} sessions, {outcomes.Count(outcome => outcome.Kind == SessionOutcomeKind.Finished)} finished");
}

// 7. Cost per row: the same query with the function in a worker (a session per vector, a session
//    per thread) and in process (one run each).
{
    var perVector = Time(connection, "SELECT sum(worker_add_one(i))::BIGINT FROM numbers", rows);
    var perThread = Time(connection, "SELECT sum(worker_add_one_streamed(i))::BIGINT FROM numbers", rows);
    var perThreadOutcomes = await streamed.FinishAsync();
    Check("session per thread, finished after the timed query", perThreadOutcomes.All(outcome => outcome.Kind == SessionOutcomeKind.Finished), $"{perThreadOutcomes.Count} sessions");
    var inProcess = Time(connection, "SELECT sum(local_add_one(i))::BIGINT FROM numbers", rows);
    string PerRow(TimeSpan elapsed) => $"{elapsed.TotalMilliseconds:F0} ms, {elapsed.TotalNanoseconds / rows:F0} ns/row";
    Console.WriteLine($"cost: a session per vector {PerRow(perVector)}; a session per thread {PerRow(perThread)}; in process {PerRow(inProcess)}");
}

Console.WriteLine(failures == 0 ? "all checks passed" : $"{failures} check(s) failed");
return failures == 0 ? 0 : 1;

static void Execute(DuckDBConnection connection, string sql)
{
    using var command = connection.CreateCommand();
    command.CommandText = sql;
    command.ExecuteNonQuery();
}

static DuckDBDataReader Query(DuckDBConnection connection, string sql)
{
    using var command = connection.CreateCommand();
    command.CommandText = sql;
    return command.ExecuteReader();
}

static string? ErrorOf(Action query)
{
    try
    {
        query();
        return null;
    }
    catch (DuckDBException e)
    {
        return e.Message;
    }
}

static string FirstLine(string? message) =>
    message is null ? "(the query succeeded)" : message.Split('\n')[0];

TimeSpan Time(DuckDBConnection connection, string sql, long n)
{
    var stopwatch = Stopwatch.StartNew();
    using var reader = Query(connection, sql);
    reader.Read();
    stopwatch.Stop();
    Check($"timed query `{sql}`", reader.GetInt64(0) == n * (n + 1) / 2, $"{stopwatch.Elapsed.TotalMilliseconds:F0} ms");
    return stopwatch.Elapsed;
}
