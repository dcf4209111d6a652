using System.Runtime.CompilerServices;
using System.Text;
using Engine.Client.Tests.Infrastructure;

namespace Engine.Client.Tests.GrpcCore;

/// <summary>
/// Keepalive pings against gRPC core's ping enforcement. A gRPC-core server accepts one ping per
/// 5 minutes while it sends nothing and closes the connection (GOAWAY ENHANCE_YOUR_CALM
/// "too_many_pings") after more than 2 early pings. Here the worker's enforcement runs 60 times
/// faster (5 s, still 2 strikes) and the client's default delay is scaled by the same factor, so
/// a quiet session shows in seconds what it would show in minutes: with the former default (60 s,
/// scaled to 1 s) the first test lost its session after 7 to 10 s (about 4 minutes in real time).
/// </summary>
[TestFixture]
public sealed class GrpcCoreKeepAliveTests
{
    /// <summary>How much faster than real time both sides run.</summary>
    private const int Scale = 60;

    /// <summary>gRPC core's default <c>grpc.http2.max_ping_strikes</c>.</summary>
    private const int CoreMaxPingStrikes = 2;

    /// <summary>gRPC core's default <c>grpc.http2.min_ping_interval_without_data_ms</c>: 5 minutes.</summary>
    private static readonly TimeSpan CoreMinPingInterval = TimeSpan.FromMinutes(5);

    /// <summary>How long the session carries no data: 20 minutes of real time, scaled; twice what the former default survived.</summary>
    private static readonly TimeSpan QuietTime = TimeSpan.FromSeconds(20);

    private PythonWorkerProcess _worker = null!;

    [OneTimeSetUp]
    public async Task Start() => _worker = await PythonWorkerProcess.StartAsync(
        tcp: false,
        $"grpc.http2.min_ping_interval_without_data_ms={(long)CoreMinPingInterval.TotalMilliseconds / Scale}",
        $"grpc.http2.max_ping_strikes={CoreMaxPingStrikes}");

    [OneTimeTearDown]
    public async Task Stop() => await _worker.DisposeAsync();

    /// <summary>The default delay on the same compressed clock as the worker (no pings stays no pings).</summary>
    private static TimeSpan ScaledDefaultDelay()
    {
        var delay = new WorkerClientOptions().Connection.KeepAlivePingDelay;
        return delay == Timeout.InfiniteTimeSpan
            ? delay
            : TimeSpan.FromTicks(Math.Max(delay.Ticks / Scale, WorkerConnectionOptions.MinKeepAlivePingDelay.Ticks));
    }

    [Test]
    public async Task With_the_default_keepalive_a_session_quiet_for_longer_than_the_servers_ping_limit_finishes()
    {
        await using var client = _worker.CreateClient(new WorkerClientOptions { Connection = { KeepAlivePingDelay = ScaledDefaultDelay() } });
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(new SessionInit(ReadOnlyMemory<byte>.Empty, "sink")).DefaultTimeout();

        var output = await ReadAllAsync(session.ProcessAsync(OneBatchThenQuiet())).WaitAsync(QuietTime + TaskTimeouts.Default);
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(output, Is.Empty);
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), $"{outcome} {_worker.Describe()}");
        Assert.That(Encoding.UTF8.GetString(outcome.FinishData!.Value.Span), Is.EqualTo("consumed 2 batches"));
    }

    [Test]
    public async Task A_client_pinging_more_often_than_the_server_allows_loses_its_quiet_session_to_GOAWAY()
    {
        // The same quiet session with a ping every second (the .NET client's shortest delay):
        // the worker closes the connection after its third early ping.
        await using var client = _worker.CreateClient(new WorkerClientOptions { Connection = { KeepAlivePingDelay = TimeSpan.FromSeconds(1) } });
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(new SessionInit(ReadOnlyMemory<byte>.Empty, "sink")).DefaultTimeout();
        using var stopInput = new CancellationTokenSource();

        WorkerTransportException? failure = null;
        try
        {
            // No gate to wait for here: the input never resumes, the connection's end is the event.
            await ReadAllAsync(session.ProcessAsync(OneBatchThenWait(stopInput.Token))).WaitAsync(TimeSpan.FromSeconds(90));
        }
        catch (WorkerTransportException ex)
        {
            failure = ex;
        }
        finally
        {
            await stopInput.CancelAsync();
        }

        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(failure, Is.Not.Null, "the quiet session survived pings every second");
        // Either news may come first: the GOAWAY (ENHANCE_YOUR_CALM, which the client maps to
        // ResourceExhausted) or the status gRPC core ends the connection's calls with.
        Assert.That(failure!.Message, Does.Contain("ENHANCE_YOUR_CALM").Or.Contain("Too many pings"), failure.ToString());
        Assert.That(failure.Message, Does.Contain("closed the connection for too many keepalive pings").And.Contain("KeepAlivePingDelay"));
        Assert.That(failure.Reason, Is.EqualTo(TransportFailureReason.Rpc));
        Assert.That(failure.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.ResourceExhausted).Or.EqualTo(Grpc.Core.StatusCode.Unavailable));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
    }

    /// <summary>The output, bounded by the caller (the quiet span outlasts <see cref="TaskTimeouts.Default"/>).</summary>
    private static async Task<List<ReadOnlyMemory<byte>>> ReadAllAsync(IAsyncEnumerable<ReadOnlyMemory<byte>> output)
    {
        var list = new List<ReadOnlyMemory<byte>>();
        await foreach (var batch in output)
        {
            list.Add(batch);
        }

        return list;
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> OneBatchThenQuiet()
    {
        yield return "before"u8.ToArray();

        // The quiet span is the behaviour under test: no data either way for this long.
        await Task.Delay(QuietTime);
        yield return "after"u8.ToArray();
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> OneBatchThenWait([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        yield return "before"u8.ToArray();
        await Task.Delay(Timeout.Infinite, cancellationToken);
    }
}
