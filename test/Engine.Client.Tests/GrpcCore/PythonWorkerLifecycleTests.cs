using System.Runtime.CompilerServices;
using System.Runtime.Versioning;
using System.Text;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.Workers;
using static Engine.Client.Tests.Infrastructure.Inputs;

namespace Engine.Client.Tests.GrpcCore;

/// <summary>
/// The gRPC-core worker's process lifetime: Manage shutdown, a pool launching it from a worker
/// specification, and its message limits raised through its server options. A worker per test.
/// </summary>
[TestFixture]
[UnsupportedOSPlatform("windows")]
public sealed class PythonWorkerLifecycleTests
{
    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> OneThenWait([EnumeratorCancellation] CancellationToken ct = default)
    {
        yield return "first"u8.ToArray();
        await Task.Delay(Timeout.Infinite, ct);
    }

    [Test]
    public async Task Shutdown_is_answered_and_the_worker_exits()
    {
        await using var worker = await PythonWorkerProcess.StartAsync();
        await using var client = worker.CreateClient();

        var answer = await client.ShutdownAsync("the test is over").DefaultTimeout();

        Assert.That(answer.SessionsSettled, Is.True);
        Assert.That(await worker.WaitForExitAsync(TaskTimeouts.Default), Is.Zero, worker.Describe());
    }

    [Test]
    public async Task Shutdown_cancelling_sessions_ends_a_live_session_with_a_worker_error_then_Cancelled()
    {
        await using var worker = await PythonWorkerProcess.StartAsync();
        await using var client = worker.CreateClient();
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(new SessionInit(ReadOnlyMemory<byte>.Empty, "echo")).DefaultTimeout();
        await using var output = session.ProcessAsync(OneThenWait()).GetAsyncEnumerator();
        Assert.That(await output.MoveNextAsync().AsTask().DefaultTimeout(), Is.True);

        var answer = await client.ShutdownAsync("draining", cancelSessions: true).DefaultTimeout();

        var error = Assert.ThrowsAsync<WorkerExecutionException>(async () => await output.MoveNextAsync().AsTask().DefaultTimeout());
        Assert.That(error!.Kind, Is.EqualTo(SessionErrorKind.Worker));
        Assert.That(error.Error.Message, Does.Contain("shutting down"));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(answer.SessionsSettled, Is.True);
        Assert.That(await worker.WaitForExitAsync(TaskTimeouts.Default), Is.Zero, worker.Describe());
    }

    [Test]
    public async Task Raised_message_limits_let_a_5_MiB_batch_round_trip()
    {
        const int Limit = 16 * 1024 * 1024;
        await using var worker = await PythonWorkerProcess.StartAsync(tcp: false, $"grpc.max_receive_message_length={Limit}");
        await using var client = worker.CreateClient(new WorkerClientOptions { Connection = { MaxSendMessageSize = Limit } });
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(new SessionInit(ReadOnlyMemory<byte>.Empty, "echo")).DefaultTimeout();
        var batch = new byte[5 * 1024 * 1024];
        Random.Shared.NextBytes(batch);

        var output = await session.ProcessAsync(One(batch)).ToListAsync();

        Assert.That(output.Single().Span.SequenceEqual(batch), Is.True, "the 5 MiB batch came back unchanged");
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_pool_launches_it_from_a_specification_runs_a_session_and_stops_it(bool tcp)
    {
        var spec = WorkerSpecification.FromProto(Specs.Direct(
            [PythonWorkerProcess.Python, PythonWorkerProcess.Script],
            initializationTimeoutMs: 30_000,
            tcp: tcp));
        var pool = WorkerPool.Create(spec, new WorkerPoolOptions { MaxIdleWorkers = 1 });
        int pid;
        string? socketDirectory;
        try
        {
            await using (var session = await pool.OpenSessionAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60)))
            {
                await session.InitAsync(new SessionInit(ReadOnlyMemory<byte>.Empty, "echo")).DefaultTimeout();
                var output = await session.ProcessAsync(Items("a", "b")).ToListAsync();
                Assert.That(output.Select(o => Encoding.UTF8.GetString(o.Span)), Is.EqualTo(new[] { "a", "b" }));
                Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
            }

            var worker = pool.Workers.Single();
            pid = worker.ProcessId;
            socketDirectory = worker.Address.SocketPath is { } path ? Path.GetDirectoryName(path) : null;
        }
        finally
        {
            await pool.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60));
        }

        Assert.That(Processes.IsAlive(pid), Is.False, "the pool stops its worker");
        if (socketDirectory is not null)
        {
            Assert.That(Directory.Exists(socketDirectory), Is.False, "the socket directory is removed");
        }
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> One(byte[] batch)
    {
        await Task.Yield();
        yield return batch;
    }
}
