using System.Globalization;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Engine.Client.Conformance;
using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
using Engine.ReferenceWorker.Udfs.Faults;
using Google.Protobuf;
using static Engine.Client.Tests.ReferenceWorker.WireScript;

namespace Engine.Client.Tests.ReferenceWorker;

/// <summary>
/// The <c>fuzz</c> format puts on the wire what its seed says, seen with the raw client and
/// Apache.Arrow alone (no SDK session code): the fuzz fixture's expectations rest on it.
/// </summary>
[TestFixture]
public sealed class FuzzFormatTests : ReferenceWorkerFixture
{

    [TestCase(nameof(FuzzMisbehaviour.GarbageArrow))]
    [TestCase(nameof(FuzzMisbehaviour.TruncatedArrow))]
    [TestCase(nameof(FuzzMisbehaviour.EmptyData))]
    [TestCase(nameof(FuzzMisbehaviour.WrongSchema))]
    public async Task The_output_batch_of_the_seed_is_corrupted_as_planned_and_every_other_one_is_echoed(string name)
    {
        var misbehaviour = Enum.Parse<FuzzMisbehaviour>(name);
        foreach (var plan in PlansOf(misbehaviour))
        {
            using var stream = Open(Worker);
            await StartAsync(stream, Init(FuzzPlan.Format, plan.Seed.ToString(CultureInfo.InvariantCulture)));
            var input = Enumerable.Range(0, plan.InputBatches).Select(Frame).ToList();
            foreach (var frame in input)
            {
                await stream.SendDataAsync(frame);
            }

            await stream.SendFinishAsync();
            var output = new List<ByteString>();
            for (var i = 0; i < plan.InputBatches; i++)
            {
                output.Add(await stream.ExpectDataAsync($"output batch {i}"));
            }

            var finish = await stream.ExpectFinishAsync();
            await stream.HalfCloseAsync();
            await stream.ExpectCleanEndAsync();

            Assert.Multiple(() =>
            {
                for (var i = 0; i < plan.InputBatches; i++)
                {
                    if (i != plan.At)
                    {
                        Assert.That(output[i].ToByteArray(), Is.EqualTo(input[i]), $"{plan}: output batch {i} is not an echo");
                    }
                }

                var bad = output[plan.At];
                if (misbehaviour == FuzzMisbehaviour.WrongSchema)
                {
                    var schema = ReadOneBatch(bad);
                    Assert.That(schema, Is.Not.Null, $"{plan}: the wrong-schema frame must be a valid stream of one batch");
                    Assert.That(schema!.FieldsList.Select(f => f.Name), Is.Not.EqualTo(new[] { "id", "name" }), plan.ToString());
                }
                else
                {
                    Assert.That(ReadOneBatch(bad), Is.Null, $"{plan}: Apache.Arrow read the corrupted frame ({bad.Length} bytes) as a whole stream of one batch");
                }

                Assert.That(finish.Data.ToStringUtf8(), Is.EqualTo($"fuzz {plan.Seed}: {plan.InputBatches} batches"));
            });
        }
    }

    [Test]
    public async Task Invalid_protobuf_is_refused_by_the_protobuf_parser()
    {
        var plan = PlansOf(FuzzMisbehaviour.InvalidProtobufAtInit).First();
        using var stream = Open(Worker);
        await stream.SendInitAsync(Init(FuzzPlan.Format, plan.Seed.ToString(CultureInfo.InvariantCulture)));

        var failure = Assert.ThrowsAsync<ConformanceFailure>(() => stream.ReadAsync("the invalid message"));

        // The raw stream reads through the shared marshallers: the parser's error, as a protocol violation.
        Assert.That(failure!.Message, Does.Contain("bytes that are not a valid UdfResponse message: a protocol violation"));
        Assert.That(failure.Received, Has.Some.Contains("While parsing a protocol message"));
    }

    [Test]
    public async Task A_payload_that_is_not_a_seed_fails_init_with_a_worker_error()
    {
        using var stream = Open(Worker);
        await stream.SendInitAsync(Init(FuzzPlan.Format, "seven"));

        var error = await stream.ExpectInitErrorAsync(ExecutionError.KindOneofCase.Worker);
        await stream.SendCancelAsync();
        await stream.ExpectCancelAsync();

        Assert.That(error.Worker.Message, Does.Contain("must be a seed"));
    }

    /// <summary>The seeds of <paramref name="misbehaviour"/> among the fuzz fixture's.</summary>
    private static IEnumerable<FuzzPlan> PlansOf(FuzzMisbehaviour misbehaviour) =>
        Enumerable.Range(0, 7 * FuzzPlan.All.Length).Select(FuzzPlan.FromSeed).Where(p => p.Misbehaviour == misbehaviour);

    private static byte[] Frame(int index)
    {
        var schema = new Schema([new Field("id", Int64Type.Default, false), new Field("name", StringType.Default, true)], null);
        var ids = new Int64Array.Builder().AppendRange(Enumerable.Range(0, 16).Select(i => (long)((index * 16) + i))).Build();
        var names = new StringArray.Builder().AppendRange(Enumerable.Range(0, 16).Select(i => "row " + i.ToString(CultureInfo.InvariantCulture))).Build();
        using var batch = new RecordBatch(schema, [ids, names], 16);
        using var memory = new MemoryStream();
        using (var writer = new ArrowStreamWriter(memory, schema, leaveOpen: true))
        {
            writer.WriteRecordBatch(batch);
            writer.WriteEnd();
        }

        return memory.ToArray();
    }

    /// <summary>The schema when <paramref name="frame"/> is a whole IPC stream of exactly one readable batch, else <see langword="null"/>.</summary>
    private static Schema? ReadOneBatch(ByteString frame)
    {
        try
        {
            using var reader = new ArrowStreamReader(frame.Memory);
            var schema = reader.Schema;
            var batches = 0;
            while (schema is not null && reader.ReadNextRecordBatch() is { } batch)
            {
                using (batch)
                {
                    batches++;
                }
            }

            return batches == 1 ? schema : null;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return null;
        }
    }
}
