using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Engine.Client.Tests.Cli;

/// <summary><c>engine-client workers start</c>: addresses on stdout, workers up until SIGTERM or Ctrl+C, then stopped cleanly.</summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class CliWorkersTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Workers_answer_at_the_printed_addresses_until_SIGTERM_stops_them()
    {
        await using var cli = CliProcess.Start(["workers", "start", "--spec", CliTestFiles.ValidSpec, "--count", "2"]);
        var addresses = new[]
        {
            await cli.WaitForLineAsync(_ => true, Bound),
            await cli.WaitForLineAsync(_ => true, Bound),
        };
        Assert.That(addresses, Is.Unique);

        var pids = new List<int>();
        foreach (var address in addresses)
        {
            await using var client = WorkerClient.Create(address);
            var heartbeat = await client.HeartbeatAsync(TimeSpan.FromSeconds(5));
            pids.Add(int.Parse(heartbeat.Metrics["pid"], CultureInfo.InvariantCulture));
        }

        cli.Signal(CliProcess.SigTerm);
        var result = await cli.WaitForExitAsync(Bound);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(result.Stderr, Does.Contain("2 workers up"));
            Assert.That(result.Stderr, Does.Contain("workers stopped"));
            foreach (var pid in pids)
            {
                Assert.That(IsRunning(pid), Is.False, $"worker process {pid} is still running");
            }

            foreach (var address in addresses)
            {
                Assert.That(File.Exists(WorkerAddress.Parse(address).SocketPath), Is.False, $"{address} still has its socket");
            }
        });
    }

    [Test]
    public async Task Json_lists_the_workers_and_Ctrl_C_stops_them()
    {
        await using var cli = CliProcess.Start(["workers", "start", "--spec", CliTestFiles.ValidSpec, "--json"]);

        // The object is indented: wait for its last line.
        await cli.WaitForLineAsync(line => line == "}", Bound);
        cli.Signal(CliProcess.SigInt);
        var result = await cli.WaitForExitAsync(Bound);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var workers = json.RootElement.GetProperty("workers");
        Assert.That(workers.GetArrayLength(), Is.EqualTo(1));
        var worker = workers[0];
        Assert.Multiple(() =>
        {
            Assert.That(worker.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "id", "pid", "address" }));
            Assert.That(worker.GetProperty("address").GetString(), Does.StartWith("unix://"));
            Assert.That(IsRunning(worker.GetProperty("pid").GetInt32()), Is.False);
        });
    }

    [Test]
    public async Task A_worker_that_cannot_be_launched_exits_3_with_one_line()
    {
        var result = await CliProcess.RunAsync("workers", "start", "--spec", CliTestFiles.UnlaunchableSpec);

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(result.Stdout, Is.Empty);
            Assert.That(result.StderrLines, Has.Count.EqualTo(1));
            Assert.That(result.Stderr, Does.Contain("a worker could not be started").And.Contain("no-such-worker"));
        });
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
