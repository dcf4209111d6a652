using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Cli;

/// <summary>
/// Inputs written by Arrow's JavaScript implementation (test/arrow-js, the npm package
/// <c>apache-arrow</c>) go through <c>engine-client run</c> against the reference worker's echo,
/// split by rows under a 64 KiB message limit, into an Arrow IPC stream and an Arrow IPC file; the
/// JavaScript library reads input and output back as canonical JSON, which must be equal. The one
/// thing a file cannot hold, a dictionary that changes between batches, is refused by name.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class JsArrowRoundTripTests
{
    /// <summary>Every input write-inputs.mjs writes, with the column whose dictionary changes (refused in a file), if any.</summary>
    private static readonly (string Name, string? FileRefused)[] Inputs =
    [
        ("dictionary-replacement.arrows", "color"),
        ("dictionary-delta.arrows", "color"),
        ("dictionary-same.arrow", null),
        ("views.arrows", null),
        ("views.arrow", null),
        ("large.arrows", null),
        ("nested.arrows", null),
        ("nested.arrow", null),
        ("unions.arrows", null),
        ("temporal-decimal.arrows", null),
        ("metadata.arrows", null),
        ("zero-rows.arrows", null),
        ("schema-only.arrows", null),
        ("zero-columns.arrows", null),
    ];

    private static readonly TimeSpan NodeTimeout = TimeSpan.FromMinutes(3);

    private ReferenceWorkerProcess _worker = null!;
    private string _scripts = null!;
    private string _directory = null!;

    private static IEnumerable<TestCaseData> Cases() => Inputs.Select(i => new TestCaseData(i.Name, i.FileRefused).SetArgDisplayNames(i.Name));

    [OneTimeSetUp]
    public async Task WriteInputsAndStartWorker()
    {
        _scripts = Path.Combine(RepositoryRoot(), "test", "arrow-js");
        if (!Directory.Exists(Path.Combine(_scripts, "node_modules", "apache-arrow")))
        {
            var install = await RunAsync("npm", ["ci", "--no-audit", "--no-fund"]);
            Assert.That(install.ExitCode, Is.EqualTo(0), $"npm ci in {_scripts}: {install.Output}");
        }

        _directory = Path.Combine("/tmp", "ec-js-" + Guid.NewGuid().ToString("N")[..8]);
        var write = await RunAsync("node", ["write-inputs.mjs", _directory]);
        Assert.That(write.ExitCode, Is.EqualTo(0), write.Output);

        using var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_directory, "manifest.json")));
        var written = manifest.RootElement.EnumerateArray().Select(e => (e.GetProperty("name").GetString()!, e.GetProperty("fileRefused").GetString()));
        Assert.That(written, Is.EquivalentTo(Inputs), "the test covers every input the script writes");

        _worker = await ReferenceWorkerProcess.StartAsync();
    }

    [OneTimeTearDown]
    public async Task StopWorker()
    {
        if (_worker is not null)
        {
            await _worker.DisposeAsync();
        }

        if (_directory is not null && Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [TestCaseSource(nameof(Cases))]
    public async Task An_input_written_by_arrow_js_comes_out_of_run_value_for_value_as_a_stream_and_as_a_file(string name, string? fileRefused)
    {
        var input = Path.Combine(_directory, name);
        var expected = await CanonicalAsync(input);

        var stream = await CliProcess.RunAsync("run", "--worker", _worker.Address, "--format", "echo", "--input", input, "--output", "-", "--max-message-size", "64KiB", "--no-progress");
        Assert.That(stream.ExitCode, Is.EqualTo(0), stream.ToString());
        var streamOutput = Path.Combine(_directory, Guid.NewGuid().ToString("N") + ".arrows");
        await File.WriteAllBytesAsync(streamOutput, stream.StdoutBytes);
        Assert.That(await CanonicalAsync(streamOutput), Is.EqualTo(expected), "stream output, as arrow-js reads it");

        var fileOutput = Path.Combine(_directory, Guid.NewGuid().ToString("N") + ".arrow");
        var file = await CliProcess.RunAsync("run", "--worker", _worker.Address, "--format", "echo", "--input", input, "--output", fileOutput, "--max-message-size", "64KiB", "--no-progress");
        if (fileRefused is not null)
        {
            Assert.Multiple(() =>
            {
                Assert.That(file.ExitCode, Is.EqualTo(2), file.ToString());
                Assert.That(file.Stderr, Does.Contain($"column '{fileRefused}'").And.Contain("one dictionary per column"));
            });
            return;
        }

        Assert.That(file.ExitCode, Is.EqualTo(0), file.ToString());
        Assert.That(await CanonicalAsync(fileOutput), Is.EqualTo(expected), "file output, as arrow-js reads it");
    }

    private async Task<string> CanonicalAsync(string path)
    {
        var read = await RunAsync("node", ["read-canonical.mjs", path]);
        Assert.That(read.ExitCode, Is.EqualTo(0), read.Output);
        return read.Output;
    }

    private async Task<(int ExitCode, string Output)> RunAsync(string command, string[] arguments)
    {
        var info = new ProcessStartInfo(command)
        {
            WorkingDirectory = _scripts,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{command} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(NodeTimeout);
        var output = new StringBuilder(await stdout);
        var errors = await stderr;
        return (process.ExitCode, process.ExitCode == 0 ? output.ToString() : output.Append(errors).ToString());
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Directory.Packages.props")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No repository root above {AppContext.BaseDirectory}.");
    }
}
