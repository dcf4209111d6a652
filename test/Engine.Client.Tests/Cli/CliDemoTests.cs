namespace Engine.Client.Tests.Cli;

/// <summary><c>engine-client demo</c> from the test output, where the reference worker sits next to the tool.</summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class CliDemoTests
{
    [Test]
    public async Task The_demo_runs_every_step_and_exits_0()
    {
        var result = await CliProcess.RunAsync("demo");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(result.Stdout, Does.Match("payload +a builtin program padded to 3 MiB, sent in 6 chunks of 512 KiB, CRC-32 0x[0-9a-f]{8}"));
            Assert.That(result.Stdout, Does.Contain("120,000 rows (6 columns, with strings and nulls)"));
            Assert.That(result.Stdout, Does.Contain("every row as expected"));
            Assert.That(result.Stdout, Does.Contain("What came back"));
            Assert.That(result.Stdout, Does.Match("rowsOut +51,428"));
            Assert.That(result.Stdout, Does.Contain("heartbeat answered"));
            Assert.That(result.Stdout, Does.Contain("sessions settled: yes"));
            Assert.That(result.Stdout, Does.Contain("worker stopped"));
            Assert.That(result.Stderr, Is.Empty);
        });
    }
}
