using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
using Grpc.Core;
using Microsoft.Extensions.Time.Testing;

namespace Engine.Client.Tests.Management;

/// <summary>The Manage call: heartbeat, shutdown, deadlines, mismatched branches and retries.</summary>
[TestFixture(HostKind.InProcess)]
[TestFixture(HostKind.UnixSocket)]
public sealed class ManageClientTests(HostKind kind) : ScriptedWorkerFixture(kind)
{

    [Test]
    public async Task Heartbeat_returns_the_workers_metrics_and_the_round_trip()
    {
        WorkerRequest? seen = null;
        Host.Registry.Manage = request =>
        {
            seen = request;
            var response = new HeartbeatResponse();
            response.Metrics["active_sessions"] = "3";
            response.Metrics["rows_out"] = "1000";
            return Task.FromResult(new WorkerResponse { Heartbeat = response });
        };
        using var client = Host.CreateClient();

        var result = await client.HeartbeatAsync().DefaultTimeout();

        Assert.That(seen?.ManageCase, Is.EqualTo(WorkerRequest.ManageOneofCase.Heartbeat));
        Assert.That(result.Metrics, Is.EquivalentTo(new Dictionary<string, string> { ["active_sessions"] = "3", ["rows_out"] = "1000" }));
        Assert.That(result.RoundTrip, Is.GreaterThanOrEqualTo(TimeSpan.Zero));
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task Shutdown_sends_reason_and_cancel_sessions_and_returns_sessions_settled(bool cancelSessions)
    {
        ShutdownRequest? seen = null;
        Host.Registry.Manage = request =>
        {
            seen = request.Shutdown;
            return Task.FromResult(new WorkerResponse { Shutdown = new ShutdownResponse { SessionsSettled = cancelSessions } });
        };
        using var client = Host.CreateClient();

        var result = await client.ShutdownAsync("maintenance", cancelSessions).DefaultTimeout();

        Assert.That(seen?.Reason, Is.EqualTo("maintenance"));
        Assert.That(seen?.HasCancelSessions, Is.True);
        Assert.That(seen?.CancelSessions, Is.EqualTo(cancelSessions));
        Assert.That(result.SessionsSettled, Is.EqualTo(cancelSessions));
    }

    [Test]
    public void A_heartbeat_answered_with_the_shutdown_branch_is_a_clear_protocol_error()
    {
        Host.Registry.Manage = _ => Task.FromResult(new WorkerResponse { Shutdown = new ShutdownResponse() });
        using var client = Host.CreateClient();

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync().DefaultTimeout());

        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.ProtocolViolation));
        Assert.That(error.Message, Does.Contain("answered a heartbeat request with a Shutdown response"));
    }

    [Test]
    public void A_shutdown_answered_with_no_branch_is_a_clear_protocol_error()
    {
        Host.Registry.Manage = _ => Task.FromResult(new WorkerResponse());
        using var client = Host.CreateClient();

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => client.ShutdownAsync().DefaultTimeout());

        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.ProtocolViolation));
        Assert.That(error.Message, Does.Contain("WorkerResponse with no branch set"));
    }

    [Test]
    public void A_heartbeat_past_its_deadline_fails_with_a_timeout_naming_it()
    {
        var never = new TaskCompletionSource<WorkerResponse>();
        Host.Registry.Manage = _ => never.Task;
        using var client = Host.CreateClient(new WorkerClientOptions { HeartbeatTimeout = TimeSpan.FromMilliseconds(200) });

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync().DefaultTimeout());

        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.Timeout));
        Assert.That(error.Message, Does.Contain("did not answer the heartbeat within 0.2 s"));
    }

    [Test]
    public void The_callers_token_cancels_a_Manage_call()
    {
        var never = new TaskCompletionSource<WorkerResponse>();
        Host.Registry.Manage = _ => never.Task;
        using var client = Host.CreateClient(new WorkerClientOptions { HeartbeatTimeout = TaskTimeouts.Huge });
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        Assert.That(async () => await client.HeartbeatAsync(cancellationToken: cts.Token).DefaultTimeout(), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task An_unavailable_worker_is_retried_within_the_deadline_when_configured()
    {
        var calls = 0;
        Host.Registry.Manage = _ => Interlocked.Increment(ref calls) < 3
            ? throw new RpcException(new Status(StatusCode.Unavailable, "starting"))
            : Task.FromResult(new WorkerResponse { Heartbeat = new HeartbeatResponse() });
        using var client = Host.CreateClient(new WorkerClientOptions { Connection = { ManageAttempts = 3 } });

        await client.HeartbeatAsync().DefaultTimeout();

        Assert.That(calls, Is.EqualTo(3));
    }

    [Test]
    public void Without_retries_an_unavailable_worker_fails_at_once()
    {
        var calls = 0;
        Host.Registry.Manage = _ =>
        {
            Interlocked.Increment(ref calls);
            throw new RpcException(new Status(StatusCode.Unavailable, "starting"));
        };
        using var client = Host.CreateClient();

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync().DefaultTimeout());

        Assert.That(calls, Is.EqualTo(1));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
    }
}

/// <summary>Manage deadlines run on the client's TimeProvider.</summary>
public sealed class ManageDeadlineTests
{
    [Test]
    public async Task The_heartbeat_deadline_runs_on_the_clients_time_provider()
    {
        await using var host = await ScriptHost.StartAsync(HostKind.InProcess);
        var never = new TaskCompletionSource<WorkerResponse>();
        host.Registry.Manage = _ => never.Task;
        var time = new FakeTimeProvider();
        using var client = host.CreateClient(new WorkerClientOptions { TimeProvider = time });

        var heartbeat = client.HeartbeatAsync();
        time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.That(heartbeat.IsCompleted, Is.False);
        time.Advance(TimeSpan.FromSeconds(0.1));

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => heartbeat.DefaultTimeout());
        Assert.That(error!.Message, Does.Contain("within 5 s"));
    }
}
