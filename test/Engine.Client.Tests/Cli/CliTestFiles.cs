using Apache.Arrow;
using Apache.Arrow.Ipc;
using Engine.Client.Tests.ReferenceWorker;
using Engine.Samples;

namespace Engine.Client.Tests.Cli;

/// <summary>
/// Files the CLI tests hand to engine-client, written once for the namespace: the sample dataset
/// as an Arrow IPC file and as an Arrow IPC stream, a file that is not Arrow, and worker
/// specifications (valid: the reference worker in the test output; invalid: three problems).
/// </summary>
[SetUpFixture]
public sealed class CliTestFiles
{
    /// <summary>Rows in <see cref="SampleFile"/> and <see cref="SampleStream"/>.</summary>
    public const int SampleRows = 20_000;

    /// <summary>Rows per batch in the sample files.</summary>
    public const int SampleBatchRows = 5_000;

    public static string Directory { get; private set; } = null!;

    /// <summary>The sample dataset as an Arrow IPC file (4 batches).</summary>
    public static string SampleFile { get; private set; } = null!;

    /// <summary>The sample dataset as an Arrow IPC stream (4 batches).</summary>
    public static string SampleStream { get; private set; } = null!;

    /// <summary>Text, not Arrow.</summary>
    public static string NotArrow { get; private set; } = null!;

    /// <summary>Not JSON, though it starts like it.</summary>
    public static string NotJson { get; private set; } = null!;

    /// <summary>The text of a specification launching the reference worker of the test output over a Unix socket.</summary>
    public static string ReferenceWorkerSpecText => $$"""
        {
          "capabilities": {
            "supportedDataFormats": ["ARROW"],
            "supportedCommunicationPatterns": ["BIDIRECTIONAL_STREAMING"],
            "supportsConcurrentUdfs": true,
            "supportsReuse": true
          },
          "direct": {
            "runner": { "command": ["{{ReferenceWorkerProcess.ExecutablePath}}"], "environmentVariables": { "DOTNET_gcServer": "0" } },
            "properties": { "initializationTimeoutMs": 20000, "connection": { "unixDomainSocket": {} } }
          }
        }
        """;

    /// <summary>A valid specification launching the reference worker of the test output over a Unix socket.</summary>
    public static string ValidSpec { get; private set; } = null!;

    /// <summary>A valid specification whose runner does not exist: every launch fails.</summary>
    public static string UnlaunchableSpec { get; private set; } = null!;

    /// <summary>A specification with three problems.</summary>
    public static string InvalidSpec { get; private set; } = null!;

    /// <summary>The problems of <see cref="InvalidSpec"/>, as fragments of their messages.</summary>
    public static readonly string[] InvalidSpecProblems = ["direct.runner.command", "direct.properties.connection", "capabilities"];

    /// <summary>An address where nothing listens.</summary>
    public static string UnreachableAddress => $"unix://{Path.Combine(Directory, "nobody.sock")}";

    [OneTimeSetUp]
    public async Task WriteFiles()
    {
        Directory = Path.Combine("/tmp", "ec-cli-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(Directory);

        SampleFile = Path.Combine(Directory, "sample.arrow");
        await using (var file = File.Create(SampleFile))
        {
            using var writer = new ArrowFileWriter(file, SampleData.Schema);
            await WriteSampleAsync(writer);
        }

        SampleStream = Path.Combine(Directory, "sample.arrows");
        await using (var stream = File.Create(SampleStream))
        {
            using var writer = new ArrowStreamWriter(stream, SampleData.Schema);
            await WriteSampleAsync(writer);
        }

        NotArrow = Path.Combine(Directory, "not-arrow.txt");
        await File.WriteAllTextAsync(NotArrow, "id,x\n1,2\n");

        NotJson = Path.Combine(Directory, "not-json.spec.json");
        await File.WriteAllTextAsync(NotJson, "{ not json");

        ValidSpec = Path.Combine(Directory, "worker.spec.json");
        await File.WriteAllTextAsync(ValidSpec, ReferenceWorkerSpecText);

        UnlaunchableSpec = Path.Combine(Directory, "unlaunchable.spec.json");
        await File.WriteAllTextAsync(UnlaunchableSpec, (await File.ReadAllTextAsync(ValidSpec)).Replace(ReferenceWorkerProcess.ExecutablePath, Path.Combine(Directory, "no-such-worker"), StringComparison.Ordinal));

        InvalidSpec = Path.Combine(Directory, "invalid.spec.json");
        await File.WriteAllTextAsync(InvalidSpec, """{ "direct": { "runner": { "command": [] } } }""");
    }

    [OneTimeTearDown]
    public void DeleteFiles()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover directory under /tmp is harmless.
        }
    }

    /// <summary>A fresh path in the test directory.</summary>
    public static string NewPath(string extension) => Path.Combine(Directory, Guid.NewGuid().ToString("N")[..8] + extension);

    /// <summary>Every batch of an Arrow IPC file.</summary>
    public static async Task<List<RecordBatch>> ReadFileAsync(string path)
    {
        await using var stream = File.OpenRead(path);
        using var reader = new ArrowFileReader(stream);
        return await ReadAllAsync(reader);
    }

    /// <summary>Every batch of an Arrow IPC stream.</summary>
    public static async Task<List<RecordBatch>> ReadStreamAsync(Stream stream)
    {
        using var reader = new ArrowStreamReader(stream);
        return await ReadAllAsync(reader);
    }

    private static async Task<List<RecordBatch>> ReadAllAsync(IArrowReader reader)
    {
        var batches = new List<RecordBatch>();
        while (await reader.ReadNextRecordBatchAsync() is { } batch)
        {
            batches.Add(batch);
        }

        return batches;
    }

    private static async Task WriteSampleAsync(ArrowStreamWriter writer)
    {
        foreach (var batch in SampleData.CreateBatches(SampleRows, SampleBatchRows))
        {
            using (batch)
            {
                await writer.WriteRecordBatchAsync(batch);
            }
        }

        await writer.WriteEndAsync();
    }
}
