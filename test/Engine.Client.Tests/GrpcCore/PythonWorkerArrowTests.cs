using System.Text;
using Apache.Arrow;
using Engine.Client.Tests.Infrastructure;
using Engine.Samples;
using static Engine.Client.Tests.Arrow.ArrowTestData;

namespace Engine.Client.Tests.GrpcCore;

/// <summary>
/// Arrow record batches through the SDK's Arrow API and the gRPC-core worker's <c>echo</c>, which
/// returns each data message's bytes unchanged: what comes back decodes to the rows that went in.
/// The worker keeps gRPC core's 4 MiB inbound limit, as does the SDK's default send limit.
/// </summary>
[TestFixture]
public sealed class PythonWorkerArrowTests
{
    private PythonWorkerProcess _worker = null!;
    private WorkerClient _client = null!;

    [OneTimeSetUp]
    public async Task Start()
    {
        _worker = await PythonWorkerProcess.StartAsync();
        _client = _worker.CreateClient();
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _client.Dispose();
        await _worker.DisposeAsync();
    }

    private static SessionInit Echo(Schema? schema = null) => SessionInit.ForArrow(ReadOnlyMemory<byte>.Empty, "echo", schema, schema);

    [Test]
    public async Task Sample_batches_round_trip_row_for_row_with_both_schemas_declared()
    {
        var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(Echo(SampleData.Schema)).DefaultTimeout();

        var output = await session.ProcessAsync(SampleBatches(20_000, 1_000)).ToListAsync();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), _worker.Describe());
        Assert.That(output, Has.Count.EqualTo(20));
        AssertRows(Rows(output), SampleRows(0, 20_000));
        Assert.That(output[0].Schema.FieldsList.Select(f => f.Name), Is.EqualTo(SampleData.Schema.FieldsList.Select(f => f.Name)));
    }

    [Test]
    public async Task A_batch_larger_than_the_workers_4_MiB_limit_is_split_by_rows_and_comes_back_whole()
    {
        var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(Echo()).DefaultTimeout();
        using var big = SampleData.CreateBatch(0, 200_000);

        var output = await session.ProcessAsync(Batches(big)).ToListAsync();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), _worker.Describe());
        Assert.That(output, Has.Count.GreaterThan(1), "one data message per piece that fits 4 MiB");
        Assert.That(outcome.Metrics?.BatchesIn, Is.EqualTo((ulong)output.Count));
        AssertRows(Rows(output), SampleRows(0, 200_000));
    }

    [Test]
    public async Task A_zero_row_batch_round_trips()
    {
        var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(Echo()).DefaultTimeout();

        var output = await session.ProcessAsync(Batches(Ints("n", 3), Ints("n", 0), Ints("n", 2, first: 3))).ToListAsync();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        Assert.That(output.Select(b => b.Length), Is.EqualTo(new[] { 3, 0, 2 }));
        Assert.That(Rows(output).Select(r => r[0]), Is.EqualTo(new object[] { 0, 1, 2, 3, 4 }));
    }

    [Test]
    public async Task A_user_error_on_an_Arrow_session_comes_back_structured()
    {
        var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(SessionInit.ForArrow(Encoding.UTF8.GetBytes("no rows for you"), "raise", null)).DefaultTimeout();

        var error = Assert.ThrowsAsync<WorkerExecutionException>(() => session.ProcessAsync(Batches(Ints("n", 3))).ToListAsync());

        Assert.That(error!.Error.Message, Is.EqualTo("no rows for you"));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }
}
