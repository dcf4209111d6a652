using System.Text;
using Engine.Client.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;
using static Engine.Client.Tests.Infrastructure.Inputs;
using static Engine.Client.Tests.Infrastructure.ScriptedStream;

namespace Engine.Client.Tests.Sessions;

/// <summary>
/// The session's three deadlines on a fake clock: the InitResponse wait, the silence allowed once
/// nothing is left to send, and the Cancel acknowledgement. Time moves only when a test moves it.
/// </summary>
public sealed class SessionTimeoutTests() : ScriptedWorkerFixture(HostKind.InProcess)
{
    private FakeTimeProvider _time = null!;
    private WorkerClient _client = null!;

    [SetUp]
    public void SetUp()
    {
        _time = new FakeTimeProvider();
        _client = Host.CreateClient(new WorkerClientOptions { TimeProvider = _time });
    }

    [TearDown]
    public void TearDown() => _client.Dispose();

    private static SessionInit Init() => new(Encoding.UTF8.GetBytes("p"), "f");

    [Test]
    public void The_defaults_are_30_s_30_s_and_2_s()
    {
        var options = new SessionOptions();

        Assert.That(options.InitResponseTimeout, Is.EqualTo(TimeSpan.FromSeconds(30)));
        Assert.That(options.IdleTimeout, Is.EqualTo(TimeSpan.FromSeconds(30)));
        Assert.That(options.CancelAcknowledgementTimeout, Is.EqualTo(TimeSpan.FromSeconds(2)));
    }

    [Test]
    public async Task No_InitResponse_within_the_timeout_is_a_transport_failure_naming_the_setting()
    {
        Host.Use(stream => stream.IgnoreEverythingAsync());
        var session = await _client.OpenSessionAsync();
        var init = session.InitAsync(Init());
        await (await Host.NextCallAsync()).WaitForAsync(r => r.Any(IsInit)).DefaultTimeout();

        _time.Advance(TimeSpan.FromSeconds(29.9));
        Assert.That(init.IsCompleted, Is.False);
        _time.Advance(TimeSpan.FromSeconds(0.1));

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => init.DefaultTimeout());
        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.Timeout));
        Assert.That(error.Message, Does.Contain("no InitResponse within 30 s").And.Contain("InitResponseTimeout"));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
    }

    [Test]
    public async Task The_idle_deadline_counts_from_the_last_worker_message_once_Finish_went_out()
    {
        var gate = new SemaphoreSlim(0);
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.ReadUntilAsync(IsFinish);
            for (var i = 0; i < 3; i++)
            {
                await gate.WaitAsync();
                await stream.WriteAsync(Responses.Data($"late-{i}"));
            }

            await stream.IgnoreEverythingAsync();
        });
        var session = await _client.OpenSessionAsync();
        await session.InitAsync(Init()).DefaultTimeout();
        var output = session.ProcessAsync(Items()).GetAsyncEnumerator();
        var next = output.MoveNextAsync().AsTask();
        await (await Host.NextCallAsync()).WaitForAsync(r => r.Any(IsFinish)).DefaultTimeout();

        for (var i = 0; i < 3; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(20));
            gate.Release();
            Assert.That(await next.DefaultTimeout(), Is.True, "20 s of silence after each message is within the 30 s deadline");
            next = output.MoveNextAsync().AsTask();
        }

        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.That(next.IsCompleted, Is.False);
        _time.Advance(TimeSpan.FromSeconds(1));

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => next.DefaultTimeout());
        Assert.That(error!.Message, Does.Contain("sent nothing for 30 s after Finish").And.Contain("IdleTimeout"));
        await session.CloseAsync().DefaultTimeout();
    }

    [Test]
    public async Task There_is_no_idle_deadline_while_input_is_still_being_sent()
    {
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Host.Use(Scripts.Echo);
        var session = await _client.OpenSessionAsync();
        await session.InitAsync(Init()).DefaultTimeout();

        async IAsyncEnumerable<ReadOnlyMemory<byte>> SlowInput()
        {
            yield return Encoding.UTF8.GetBytes("a");
            await resume.Task;
            yield return Encoding.UTF8.GetBytes("b");
        }

        var reading = session.ProcessAsync(SlowInput()).ToListAsync();
        await (await Host.NextCallAsync()).WaitForAsync(r => r.Any(IsData)).DefaultTimeout();
        _time.Advance(TimeSpan.FromMinutes(10));
        resume.TrySetResult();

        Assert.That((await reading).Count, Is.EqualTo(2));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Endless()
    {
        for (var i = 0; ; i++)
        {
            await Task.Yield();
            yield return Encoding.UTF8.GetBytes($"in-{i}");
        }
    }

    [Test]
    public async Task A_worker_that_stops_taking_input_and_sends_nothing_fails_after_the_progress_timeout_counted_from_its_last_message()
    {
        var gate = new SemaphoreSlim(0);
        Host.Use(async stream =>
        {
            // Init, then never read again: the engine's writes back up behind the flow-control window.
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await gate.WaitAsync();
            await stream.WriteAsync(Responses.Data("still-busy"));
            await stream.Aborted;
        });
        var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts(o => o.ProgressTimeout = TimeSpan.FromSeconds(10)));
        await session.InitAsync(Init()).DefaultTimeout();
        var output = session.ProcessAsync(Endless()).GetAsyncEnumerator();
        var next = output.MoveNextAsync().AsTask();
        var call = await Host.NextCallAsync();
        await call.WaitForAsync(r => r.Count(IsData) == InProcessStream.FlowControlWindow).DefaultTimeout();

        // A write now waits for the worker. Its one message restarts the clock.
        _time.Advance(TimeSpan.FromSeconds(9));
        gate.Release();
        Assert.That(await next.DefaultTimeout(), Is.True);
        next = output.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromSeconds(9.9));
        Assert.That(next.IsCompleted, Is.False, "10 s have not passed since the worker's last message");
        _time.Advance(TimeSpan.FromSeconds(0.1));

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => next.DefaultTimeout());
        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.Timeout));
        Assert.That(error.Message, Does.Contain("accepted no input and sent nothing for 10 s").And.Contain("ProgressTimeout"));
        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(outcome.WorkerReusable, Is.False);
        await call.Aborted.DefaultTimeout();
        await output.DisposeAsync();
    }

    [Test]
    public async Task The_progress_clock_does_not_run_while_the_engine_has_no_input_to_send()
    {
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Host.Use(Scripts.Echo);
        var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts(o => o.ProgressTimeout = TimeSpan.FromSeconds(10)));
        await session.InitAsync(Init()).DefaultTimeout();

        async IAsyncEnumerable<ReadOnlyMemory<byte>> SlowInput()
        {
            yield return Encoding.UTF8.GetBytes("a");
            await resume.Task;
            yield return Encoding.UTF8.GetBytes("b");
        }

        var reading = session.ProcessAsync(SlowInput()).ToListAsync();
        await (await Host.NextCallAsync()).WaitForAsync(r => r.Any(IsData)).DefaultTimeout();
        _time.Advance(TimeSpan.FromMinutes(10));
        resume.TrySetResult();

        Assert.That((await reading).Count, Is.EqualTo(2));
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
    }

    [Test]
    public void The_progress_deadline_is_off_by_default_and_must_be_positive()
    {
        Assert.That(new SessionOptions().ProgressTimeout, Is.Null);
        Assert.That(async () => await _client.OpenSessionAsync(new SessionOptions { ProgressTimeout = TimeSpan.Zero }), Throws.ArgumentException.With.Message.Contain("ProgressTimeout"));
    }

    [Test]
    public async Task An_unacknowledged_Cancel_aborts_after_the_acknowledgement_timeout()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.IgnoreEverythingAsync();
        });
        var session = await _client.OpenSessionAsync();
        await session.InitAsync(Init()).DefaultTimeout();
        var call = await Host.NextCallAsync();

        var close = session.CloseAsync();
        await call.CancelReceived.DefaultTimeout();
        _time.Advance(TimeSpan.FromSeconds(1.9));
        Assert.That(close.IsCompleted, Is.False);
        _time.Advance(TimeSpan.FromSeconds(0.1));

        var outcome = await close.DefaultTimeout();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(outcome.Exception!.Message, Does.Contain("did not acknowledge Cancel within 2 s"));
        await call.Aborted.DefaultTimeout();
    }

    [Test]
    public async Task Cancelling_CloseAsync_stops_waiting_aborts_and_reports_Interrupted()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.IgnoreEverythingAsync();
        });
        var session = await _client.OpenSessionAsync();
        await session.InitAsync(Init()).DefaultTimeout();
        var call = await Host.NextCallAsync();
        using var cts = new CancellationTokenSource();

        var close = session.CloseAsync(cts.Token);
        await call.CancelReceived.DefaultTimeout();
        await cts.CancelAsync();

        var outcome = await close.DefaultTimeout();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Interrupted));
        Assert.That(outcome.WorkerReusable, Is.False);
        await call.Aborted.DefaultTimeout();
    }

    [Test]
    public async Task A_send_failure_without_a_read_failure_settles_after_the_acknowledgement_timeout()
    {
        Host.Use(stream => stream.IgnoreEverythingAsync());
        var writes = new FailingWrites.Control();
        using var client = Host.CreateClient(new WorkerClientOptions { TimeProvider = _time }, inner => new FailingWrites(inner, writes));
        var session = await client.OpenSessionAsync();

        var init = session.InitAsync(Init());
        await writes.Started.Task.DefaultTimeout();
        writes.Result.TrySetException(new IOException("write refused"));
        Assert.That(init.IsCompleted, Is.False, "the reader may still hold the worker's final messages");
        _time.Advance(TimeSpan.FromSeconds(2));

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => init.DefaultTimeout());
        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.SendFailed));
        Assert.That(error.Message, Does.Contain("sending Init failed").And.Contain("write refused"));
    }

    /// <summary>Writes fail while the response stream stays open: the one case the reader cannot settle.</summary>
    private sealed class FailingWrites(Grpc.Core.CallInvoker inner, FailingWrites.Control control) : Grpc.Core.CallInvoker
    {
        public sealed class Control
        {
            public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

            // Synchronous continuations: failing it runs the writer's failure path inline.
            public TaskCompletionSource Result { get; } = new();
        }

        public override Grpc.Core.AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
            Grpc.Core.Method<TRequest, TResponse> method, string? host, Grpc.Core.CallOptions options)
        {
            var call = inner.AsyncDuplexStreamingCall(method, host, options);
            return new(new Refusing<TRequest>(control), call.ResponseStream, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
        }

        public override Grpc.Core.AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(Grpc.Core.Method<TRequest, TResponse> method, string? host, Grpc.Core.CallOptions options, TRequest request) =>
            inner.AsyncUnaryCall(method, host, options, request);

        public override TResponse BlockingUnaryCall<TRequest, TResponse>(Grpc.Core.Method<TRequest, TResponse> method, string? host, Grpc.Core.CallOptions options, TRequest request) =>
            throw new NotSupportedException();

        public override Grpc.Core.AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(Grpc.Core.Method<TRequest, TResponse> method, string? host, Grpc.Core.CallOptions options, TRequest request) =>
            throw new NotSupportedException();

        public override Grpc.Core.AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(Grpc.Core.Method<TRequest, TResponse> method, string? host, Grpc.Core.CallOptions options) =>
            throw new NotSupportedException();

        private sealed class Refusing<T>(Control control) : Grpc.Core.IClientStreamWriter<T>
        {
            public Grpc.Core.WriteOptions? WriteOptions { get; set; }

            public Task WriteAsync(T message)
            {
                control.Started.TrySetResult();
                return control.Result.Task;
            }

            public Task CompleteAsync() => Task.CompletedTask;
        }
    }
}
