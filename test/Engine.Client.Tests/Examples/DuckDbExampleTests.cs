using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Engine.Client.Tests.Infrastructure;

namespace Engine.Client.Tests.Examples;

/// <summary>
/// examples/DuckDbUdf, run as a real process from the test output: DuckDB (embedded, from its
/// package) over a generated table of a million rows, its scalar function running in reference
/// worker processes through a shared WorkerPool.
/// </summary>
[TestFixture]
public sealed partial class DuckDbExampleTests
{
    private const long Rows = 1_000_000;

    private static readonly string Example = Path.Combine(AppContext.BaseDirectory, "DuckDbUdf");

    [Test]
    public async Task The_DuckDB_example_runs_its_scalar_function_in_workers_over_a_million_rows_with_every_row_checked()
    {
        var (exitCode, output) = await RunAsync("--rows", Rows.ToString(CultureInfo.InvariantCulture), "--threads", "4");

        var expectedSum = Rows * (Rows + 1) / 2;
        Assert.Multiple(() =>
        {
            Assert.That(output, Does.Not.Contain("FAILED"));
            Assert.That(exitCode, Is.Zero, output);
            Assert.That(output, Does.Contain($"ok: rows: {Rows} rows, expected {Rows}"));
            Assert.That(output, Does.Contain($"ok: sum: sum(worker_add_one(i)) = {expectedSum}, expected n(n+1)/2 = {expectedSum}"));
            Assert.That(output, Does.Contain("ok: every row: 0 rows where worker_add_one(i) <> i + 1"));
            Assert.That(output, Does.Contain($"ok: spot rows: 0 -> 1, 1 -> 2, 2047 -> 2048, 2048 -> 2049, {Rows / 2} -> {Rows / 2 + 1}, {Rows - 1} -> {Rows}"));
            Assert.That(output, Does.Contain($"ok: session per thread: sum {expectedSum}, 0 rows where worker_add_one_streamed(i) <> i + 1"));
            Assert.That(output, Does.Match(@"ok: session per thread, finished: (\d+) sessions, \1 finished"));
            Assert.That(output, Does.Contain("all checks passed"));
        });

        // One session per DuckDB vector of at most 2048 rows, all the rows through workers.
        var sessions = SessionsLine().Match(output);
        Assert.That(sessions.Success, Is.True, output);
        Assert.That(long.Parse(sessions.Groups["sessions"].Value, CultureInfo.InvariantCulture), Is.GreaterThanOrEqualTo(Rows / 2048));
        Assert.That(long.Parse(sessions.Groups["rows"].Value, CultureInfo.InvariantCulture), Is.EqualTo(Rows));

        // Several DuckDB threads called the function and shared the pool: a million rows are nine
        // row groups, which DuckDB's four threads scan in parallel.
        var threads = ThreadsLine().Match(output);
        Assert.That(threads.Success, Is.True, output);
        Assert.That(int.Parse(threads.Groups["threads"].Value, CultureInfo.InvariantCulture), Is.GreaterThan(1), output);
    }

    [Test]
    public async Task The_DuckDB_example_turns_a_worker_s_user_error_and_a_cancellation_into_query_errors_and_its_pool_serves_the_next_query()
    {
        var (exitCode, output) = await RunAsync("--rows", "100000", "--threads", "2");

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.Zero, output);
            Assert.That(output, Does.Match(@"ok: worker error: DuckDB query error: .*ValueError: i is too large"));
            Assert.That(output, Does.Match(@"ok: cancellation: DuckDB query error: .*cancel"));
            Assert.That(output, Does.Contain($"ok: after errors: sum over 10000 rows = {10000L * 10001 / 2}"));
        });
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo(Example)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TaskTimeouts.Huge);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var output = await stdout.WaitAsync(TaskTimeouts.Default) + await stderr.WaitAsync(TaskTimeouts.Default);
        TestContext.Out.WriteLine(output);
        return (process.ExitCode, output);
    }

    [GeneratedRegex(@"ok: sessions: (?<sessions>\d+) sessions \(one per DuckDB vector\) carried (?<rows>\d+) rows")]
    private static partial Regex SessionsLine();

    [GeneratedRegex(@"threads: (?<threads>\d+) DuckDB threads called the function")]
    private static partial Regex ThreadsLine();
}
