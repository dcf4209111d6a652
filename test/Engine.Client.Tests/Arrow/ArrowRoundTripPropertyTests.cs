extern alias cli;

using Apache.Arrow;
using Apache.Arrow.Ipc;
using CsCheck;
using Engine.Client.Arrow;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using ArrowOutput = cli::Engine.Client.Cli.Arrow.ArrowOutput;
using OutputWriteException = cli::Engine.Client.Cli.Operations.OutputWriteException;

namespace Engine.Client.Tests.Arrow;

/// <summary>
/// Random schemas and batches (every column kind a producer uses: dictionaries that stay, grow or
/// are replaced, views, large offsets, nested and union types, decimals, time zones, an extension
/// type, metadata, zero rows and zero columns), written by Apache.Arrow, must come back value for
/// value through the SDK's frames (whole and split by rows), through the CLI's stream and file
/// output, and through a real session against the reference worker's echo.
/// </summary>
[TestFixture]
public sealed class ArrowRoundTripPropertyTests
{
    private const int Unlimited = 64 * 1024 * 1024;

    [Test]
    public void Random_batches_round_trip_through_the_frames_whole_and_split_by_rows()
    {
        RandomArrow.Cases().Sample(spec =>
        {
            var (schema, batches) = RandomArrow.Build(spec);
            var expected = RandomArrow.Rows(batches);

            var whole = ThroughFrames(batches, limit: null, out var wholeSchemas);
            var split = ThroughFrames(batches, limit: 3, out var splitSchemas);

            Assert.That(wholeSchemas.Concat(splitSchemas).Distinct(), Is.All.EqualTo(RandomArrow.Describe(schema)), "schema, field types and metadata");
            Assert.That(RandomArrow.Rows(whole), Is.EqualTo(expected), "whole batches");
            Assert.That(RandomArrow.Rows(split), Is.EqualTo(expected), "batches split by rows");
            Assert.That(whole.Select(b => b.ColumnCount), Is.All.EqualTo(schema.FieldsList.Count));
            Assert.That(whole.Sum(b => b.Length), Is.EqualTo(spec.BatchRows.Sum()), "row counts, zero-column batches included");
        }, iter: Iterations(300), threads: 1);
    }

    [Test]
    public async Task Random_batches_round_trip_through_the_CLI_stream_output_and_the_file_output_refuses_only_a_changed_dictionary()
    {
        var directory = Directory.CreateTempSubdirectory("ec-prop-");
        try
        {
            await RandomArrow.Cases().SampleAsync(async spec =>
            {
                var (schema, batches) = RandomArrow.Build(spec);
                var expected = RandomArrow.Rows(batches);
                var received = ThroughFrames(batches, limit: null, out _);

                var stdout = new MemoryStream();
                await using (var output = ArrowOutput.Create("-", () => stdout))
                {
                    foreach (var batch in received)
                    {
                        await output.WriteAsync(batch, CancellationToken.None);
                    }

                    await output.CompleteAsync(CancellationToken.None);
                }

                stdout.Position = 0;
                using (var reader = new ArrowStreamReader(stdout))
                {
                    var read = await ReadAllAsync(reader);
                    Assert.That(RandomArrow.Describe(reader.Schema), Is.EqualTo(RandomArrow.Describe(schema)), "stream output schema");
                    Assert.That(RandomArrow.Rows(read), Is.EqualTo(expected), "stream output values");
                }

                var path = Path.Combine(directory.FullName, Guid.NewGuid().ToString("N") + ".arrow");
                var dictionaryChanges = spec.Dictionaries != DictionaryChange.Same && spec.BatchRows.Length > 1 && spec.Columns.Any(HasDictionary);
                OutputWriteException? refused = null;
                await using (var output = ArrowOutput.Create(path, () => throw new InvalidOperationException("not stdout")))
                {
                    try
                    {
                        foreach (var batch in received)
                        {
                            await output.WriteAsync(batch, CancellationToken.None);
                        }

                        await output.CompleteAsync(CancellationToken.None);
                    }
                    catch (OutputWriteException ex)
                    {
                        refused = ex;
                    }
                }

                if (dictionaryChanges)
                {
                    Assert.That(refused?.Message, Does.Contain("holds one dictionary per column").And.Contain("column 'c"), "a changed dictionary is refused by name in a file");
                    return;
                }

                Assert.That(refused, Is.Null);
                await using var file = File.OpenRead(path);
                using var fileReader = new ArrowFileReader(file);
                var fromFile = await ReadAllAsync(fileReader);
                Assert.That(RandomArrow.Describe(fileReader.Schema), Is.EqualTo(RandomArrow.Describe(schema)), "file output schema");
                Assert.That(RandomArrow.Rows(fromFile), Is.EqualTo(expected), "file output values");
            }, iter: Iterations(150), threads: 1);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Test]
    public async Task Random_batches_round_trip_through_a_session_against_the_reference_workers_echo()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        await using var client = WorkerClient.Create(worker.Address, new WorkerClientOptions { Connection = { MaxSendMessageSize = 64 * 1024 } });
        await RandomArrow.Cases().SampleAsync(async spec =>
        {
            var (schema, batches) = RandomArrow.Build(spec);
            await using var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
            await session.InitAsync(SessionInit.ForArrow(ReadOnlyMemory<byte>.Empty, "echo", schema)).DefaultTimeout();

            var output = await session.ProcessAsync(batches.ToAsyncEnumerable()).ToListAsync();

            var outcome = await session.CloseAsync().DefaultTimeout();
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
            Assert.That(RandomArrow.Rows(output), Is.EqualTo(RandomArrow.Rows(batches)));
            Assert.That(output.Select(b => RandomArrow.Describe(b.Schema)).Distinct(), Is.All.EqualTo(RandomArrow.Describe(schema)));
        }, iter: Iterations(40), threads: 1);
    }

    /// <summary>The cases a test samples: <paramref name="ci"/>, or ENGINE_ARROW_PROPERTY_ITERATIONS for a longer local run.</summary>
    private static long Iterations(long ci) =>
        long.TryParse(Environment.GetEnvironmentVariable("ENGINE_ARROW_PROPERTY_ITERATIONS"), out var iterations) && iterations > 0 ? iterations : ci;

    // A map's key is always utf8: only its value spec makes a column.
    private static bool HasDictionary(TypeSpec spec) =>
        spec.Kind == ArrowKind.Dictionary || (spec.Kind == ArrowKind.Map ? HasDictionary(spec.Children[1]) : spec.Children.Any(HasDictionary));

    /// <summary>
    /// Every batch through <see cref="ArrowFrameWriter"/> and <see cref="ArrowFrameReader"/>. With
    /// <paramref name="limit"/>, each batch's frame limit is its whole frame over that many parts,
    /// but at least its largest single-row frame, so every batch of several rows is split.
    /// </summary>
    private static List<RecordBatch> ThroughFrames(List<RecordBatch> batches, int? limit, out List<string> schemas)
    {
        var decoded = new List<RecordBatch>();
        schemas = [];
        for (var index = 0; index < batches.Count; index++)
        {
            var batch = batches[index];
            var maxFrame = Unlimited;
            if (limit is { } parts)
            {
                using var probe = new ArrowFrameWriter(Unlimited);
                var largestRow = 0;
                for (var row = 0; row < batch.Length; row++)
                {
                    using var one = batch.SliceShared(row, 1);
                    largestRow = Math.Max(largestRow, probe.Encode(ArrowViewCompaction.Compact(one)).Length);
                }

                var wholeFrame = probe.Encode(ArrowViewCompaction.Compact(batch)).Length;
                maxFrame = batch.Length <= 1 ? wholeFrame : Math.Max(largestRow, wholeFrame / parts);
            }

            using var writer = new ArrowFrameWriter(maxFrame);
            foreach (var frame in writer.Frames(batch, index))
            {
                Assert.That(frame.Length, Is.LessThanOrEqualTo(maxFrame));
                var (schema, read) = ArrowFrameReader.Read(frame.ToArray());
                schemas.Add(RandomArrow.Describe(schema));
                decoded.AddRange(read);
            }
        }

        return decoded;
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
}
