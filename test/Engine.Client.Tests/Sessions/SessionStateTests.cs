using System.Text;
using Engine.Client.Sessions;
using Engine.Client.Tests.Infrastructure;
using static Engine.Client.Tests.Infrastructure.Inputs;
using static Engine.Client.Tests.Infrastructure.ScriptedStream;

namespace Engine.Client.Tests.Sessions;

/// <summary>docs/conformance.md section B: the session's state machine, outcomes and release hooks.</summary>
public sealed class SessionStateTests() : ScriptedWorkerFixture(HostKind.InProcess)
{
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(300);

    private static SessionInit Init(string payload = "udf") => new(Encoding.UTF8.GetBytes(payload), "test");

    private (WorkerClient Client, WorkerSession Session) Open(WorkerScript script, SessionOptions? options = null, ISessionLease? lease = null, Func<Grpc.Core.CallInvoker, Grpc.Core.CallInvoker>? wrap = null)
    {
        Host.Use(script);
        var client = Host.CreateClient(wrap: wrap);
        return (client, client.OpenSession(options ?? TaskTimeouts.HugeTimeouts(), lease));
    }

    private static WorkerScript SilentAfterInit => async stream =>
    {
        await Scripts.ReadInitAsync(stream);
        await stream.WriteAsync(Responses.InitOk());
        await stream.IgnoreEverythingAsync();
    };

    private static WorkerScript InitErrorThenCancel => async stream =>
    {
        await Scripts.ReadInitAsync(stream);
        await stream.WriteAsync(Responses.InitError(Responses.User("bad")));
        await Scripts.AnswerCancelAsync(stream);
    };

    [Test]
    public async Task B01_Init_returns_the_workers_InitResponse_data()
    {
        var (client, session) = Open(Scripts.Echo);
        using var owner = client;

        var result = await session.InitAsync(new SessionInit(Encoding.UTF8.GetBytes("p"), "test") { Parameters = Encoding.UTF8.GetBytes("params!") }).DefaultTimeout();

        Assert.That(result.Data.HasValue, Is.True);
        Assert.That(Encoding.UTF8.GetString(result.Data!.Value.Span), Is.EqualTo("params!"));
        await session.CloseAsync().DefaultTimeout();
    }

    [Test]
    public async Task B02_Init_only_once()
    {
        var (client, session) = Open(Scripts.Echo);
        using var owner = client;
        await session.InitAsync(Init()).DefaultTimeout();

        var error = Assert.ThrowsAsync<InvalidOperationException>(() => session.InitAsync(Init()));

        Assert.That(error!.Message, Does.Contain("already called"));
        Assert.That((await Host.NextCallAsync()).Received.Count(IsInit), Is.EqualTo(1));
        await session.CloseAsync().DefaultTimeout();
    }

    [Test]
    public async Task B03_processing_before_init_is_rejected_and_nothing_is_sent()
    {
        var (client, session) = Open(Scripts.Echo);
        using var owner = client;

        var error = Assert.Throws<InvalidOperationException>(() => session.ProcessAsync(Items("a")));

        Assert.That(error!.Message, Does.Contain("before InitAsync"));
        Assert.That(Host.Registry.TryGetCall(out var call), Is.False, "no stream may be opened");
        await session.CloseAsync().DefaultTimeout();
    }

    [Test]
    public async Task B03_processing_while_init_is_in_progress_is_rejected()
    {
        var (client, session) = Open(stream => stream.IgnoreEverythingAsync(), TaskTimeouts.HugeTimeouts(o => o.CancelAcknowledgementTimeout = Short));
        using var owner = client;
        var init = session.InitAsync(Init());

        var error = Assert.Throws<InvalidOperationException>(() => session.ProcessAsync(Items("a")));

        Assert.That(error!.Message, Does.Contain("still in progress"));
        await session.CloseAsync().DefaultTimeout();
        Assert.That(async () => await init.DefaultTimeout(), Throws.Exception);
    }

    [Test]
    public async Task B04_processing_only_once()
    {
        var (client, session) = Open(Scripts.Echo);
        using var owner = client;
        await session.InitAsync(Init()).DefaultTimeout();
        await session.ProcessAsync(Items("a")).ToListAsync();

        var error = Assert.Throws<InvalidOperationException>(() => session.ProcessAsync(Items("b")));

        Assert.That(error!.Message, Does.Contain("already called"));
    }

    [Test]
    public async Task B05_a_failed_init_leaves_a_terminal_outcome_and_later_processing_is_rejected()
    {
        var (client, session) = Open(InitErrorThenCancel);
        using var owner = client;
        Assert.ThrowsAsync<WorkerExecutionException>(() => session.InitAsync(Init()));
        var outcome = await session.CloseAsync().DefaultTimeout();

        var error = Assert.Throws<InvalidOperationException>(() => session.ProcessAsync(Items("a")));

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(session.HasEnded, Is.True);
        Assert.That(error!.Message, Does.Contain("after the session ended"));
    }

    [Test]
    public async Task B06_close_returns_the_settled_outcome()
    {
        var (client, session) = Open(Scripts.Echo);
        using var owner = client;
        await session.InitAsync(Init()).DefaultTimeout();
        await session.ProcessAsync(Items("a")).ToListAsync();

        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome, Is.SameAs(session.Outcome));
        Assert.That(session.Phase, Is.EqualTo(SessionPhase.Ended));
    }

    [Test]
    public async Task B07_close_releases_the_worker_exactly_once_and_keeps_a_clean_worker_reusable_even_when_called_concurrently()
    {
        var lease = new RecordingLease();
        var (client, session) = Open(Scripts.Echo, lease: lease);
        using var owner = client;
        await session.InitAsync(Init()).DefaultTimeout();
        await session.ProcessAsync(Items("a", "b")).ToListAsync();

        var closes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => session.CloseAsync()))).DefaultTimeout();
        await session.DisposeAsync();

        Assert.Multiple(() =>
        {
            Assert.That(closes.Distinct().Count(), Is.EqualTo(1));
            Assert.That(lease.Releases, Is.EqualTo(1));
            Assert.That(lease.Invalidations, Is.Zero);
            Assert.That(lease.Released?.WorkerReusable, Is.True);
        });
    }

    [Test]
    public async Task B08_a_transport_failure_marks_the_worker_unusable()
    {
        var lease = new RecordingLease();
        var (client, session) = Open(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.Data("too early"));
            await stream.IgnoreEverythingAsync();
        }, lease: lease);
        using var owner = client;
        Assert.ThrowsAsync<WorkerTransportException>(() => session.InitAsync(Init()));

        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(outcome.WorkerReusable, Is.False);
        Assert.That(lease.Invalidations, Is.EqualTo(1));
        Assert.That(lease.Releases, Is.EqualTo(1));
        Assert.That(lease.Order, Is.EqualTo(new[] { "invalidate", "release" }));
    }

    [Test]
    public async Task B09_a_user_error_Failed_leaves_the_worker_reusable()
    {
        var lease = new RecordingLease();
        var (client, session) = Open(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.ReadUntilAsync(IsFinish);
            await stream.WriteAsync(Responses.Finish(Responses.User("udf raised", "ValueError")));
            await Scripts.AwaitHalfCloseAsync(stream);
        }, lease: lease);
        using var owner = client;
        await session.InitAsync(Init()).DefaultTimeout();
        Assert.ThrowsAsync<WorkerExecutionException>(() => session.ProcessAsync(Items("a")).ToListAsync());

        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Failed));
        Assert.That(outcome.Error?.Kind, Is.EqualTo(SessionErrorKind.User));
        Assert.That(outcome.WorkerReusable, Is.True);
        Assert.That(lease.Invalidations, Is.Zero);
        Assert.That(lease.Releases, Is.EqualTo(1));
    }

    [Test]
    public async Task B10_a_close_that_cannot_settle_anything_settles_a_transport_failure()
    {
        var lease = new RecordingLease();
        var (client, session) = Open(SilentAfterInit, TaskTimeouts.HugeTimeouts(o => o.CancelAcknowledgementTimeout = Short), lease);
        using var owner = client;
        await session.InitAsync(Init()).DefaultTimeout();

        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(lease.Invalidations, Is.EqualTo(1));
    }

    [Test]
    public async Task B11_a_close_whose_cleanup_throws_still_returns_an_outcome_and_releases_the_worker()
    {
        var lease = new RecordingLease();
        CallProbe? probe = null;
        var (client, session) = Open(Scripts.Echo, lease: lease, wrap: inner => probe = new CallProbe(inner) { ThrowOnDispose = true });
        using var owner = client;
        await session.InitAsync(Init()).DefaultTimeout();
        await session.ProcessAsync(Items("a")).ToListAsync();

        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(probe!.Disposes, Is.EqualTo(1), "cleanup ran and threw");
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        Assert.That(lease.Releases, Is.EqualTo(1));
    }

    [Test]
    public async Task B12_release_and_invalidate_hooks_that_throw_are_contained()
    {
        var lease = new RecordingLease { ThrowOnRelease = true, ThrowOnInvalidate = true };
        var (client, session) = Open(SilentAfterInit, TaskTimeouts.HugeTimeouts(o => o.CancelAcknowledgementTimeout = Short), lease);
        using var owner = client;
        await session.InitAsync(Init()).DefaultTimeout();

        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(lease.Invalidations, Is.EqualTo(1));
        Assert.That(lease.Releases, Is.EqualTo(1));
    }

    [Test]
    public async Task B13_invalidate_failing_still_releases()
    {
        var lease = new RecordingLease { ThrowOnInvalidate = true };
        var (client, session) = Open(SilentAfterInit, TaskTimeouts.HugeTimeouts(o => o.CancelAcknowledgementTimeout = Short), lease);
        using var owner = client;
        await session.InitAsync(Init()).DefaultTimeout();

        await session.CloseAsync().DefaultTimeout();

        Assert.That(lease.Order, Is.EqualTo(new[] { "invalidate", "release" }));
    }

    [Test]
    public void B14_the_first_terminal_wins_and_later_ones_are_ignored()
    {
        var state = new SessionStateMachine();
        var first = Outcome(SessionOutcomeKind.Cancelled);
        var second = Outcome(SessionOutcomeKind.TransportFailed);

        Assert.That(state.TrySettle(SessionEvent.TransportFailed, first), Is.True);
        Assert.That(state.TrySettle(SessionEvent.TransportFailed, second), Is.False);
        Assert.That(state.Outcome, Is.SameAs(first));
        Assert.That(state.Settled.Result, Is.SameAs(first));
    }

    [Test]
    public async Task B14_racing_settlers_agree_on_one_outcome()
    {
        for (var round = 0; round < 200; round++)
        {
            var state = new SessionStateMachine();
            var outcomes = Enum.GetValues<SessionOutcomeKind>().Select(Outcome).ToArray();
            using var start = new Barrier(outcomes.Length);
            var wins = await Task.WhenAll(outcomes.Select(o => Task.Run(() =>
            {
                start.SignalAndWait();
                return state.TrySettle(SessionEvent.TransportFailed, o);
            }))).DefaultTimeout();

            Assert.That(wins.Count(w => w), Is.EqualTo(1));
            Assert.That(outcomes[Array.IndexOf(wins, true)], Is.SameAs(state.Outcome));
        }
    }

    [Test]
    public void B15_non_terminal_transitions_lose_against_a_settled_terminal()
    {
        var state = new SessionStateMachine();
        Assert.That(state.Fire(SessionEvent.InitCalled), Is.True);
        state.TrySettle(SessionEvent.TransportFailed, Outcome(SessionOutcomeKind.TransportFailed));

        Assert.Multiple(() =>
        {
            Assert.That(state.OnInitResponse(failed: false, data: null), Is.EqualTo(InitResponseDecision.CancelledMeanwhile));
            Assert.That(state.RequestCancel("late", byCaller: true), Is.EqualTo(CancelDecision.Ignored));
            Assert.That(state.Phase, Is.EqualTo(SessionPhase.Ended));
            Assert.That(state.LastActivePhase, Is.EqualTo(SessionPhase.Initializing));
        });
    }

    [Test]
    public void B15_phases_only_move_forward()
    {
        var state = new SessionStateMachine();
        Assert.That(state.Fire(SessionEvent.InitCalled), Is.True);
        Assert.That(state.OnInitResponse(failed: false, data: null), Is.EqualTo(InitResponseDecision.Accepted));
        Assert.That(state.Fire(SessionEvent.ProcessCalled), Is.True);
        Assert.That(state.Fire(SessionEvent.InitAccepted), Is.False);
        Assert.That(state.Fire(SessionEvent.InitCalled), Is.False);
        Assert.That(state.Phase, Is.EqualTo(SessionPhase.Processing));
    }

    [TestCase(SessionOutcomeKind.Finished, true)]
    [TestCase(SessionOutcomeKind.Cancelled, true)]
    [TestCase(SessionOutcomeKind.Failed, true)]
    [TestCase(SessionOutcomeKind.TransportFailed, false)]
    [TestCase(SessionOutcomeKind.Interrupted, false)]
    public async Task B16_each_outcome_maps_to_one_result_value_and_its_reusability(SessionOutcomeKind kind, bool reusable)
    {
        WorkerScript script = kind switch
        {
            SessionOutcomeKind.Finished => Scripts.Echo,
            SessionOutcomeKind.Cancelled => async stream =>
            {
                await Scripts.ReadInitAsync(stream);
                await stream.WriteAsync(Responses.InitOk());
                await Scripts.AnswerCancelAsync(stream);
            },
            SessionOutcomeKind.Failed => async stream =>
            {
                await Scripts.ReadInitAsync(stream);
                await stream.WriteAsync(Responses.InitOk());
                await stream.ReadUntilAsync(IsFinish);
                await stream.WriteAsync(Responses.Finish(Responses.User("failed")));
            },
            _ => SilentAfterInit,
        };
        var (client, session) = Open(script, TaskTimeouts.HugeTimeouts(o => o.CancelAcknowledgementTimeout = Short));
        using var owner = client;
        await session.InitAsync(Init()).DefaultTimeout();
        using var cts = new CancellationTokenSource();
        try
        {
            switch (kind)
            {
                case SessionOutcomeKind.Finished:
                case SessionOutcomeKind.Failed:
                    await session.ProcessAsync(Items("a")).ToListAsync();
                    break;
                case SessionOutcomeKind.Interrupted:
                    session.Cancel("interrupt me");
                    break;
            }
        }
        catch (WorkerExecutionException)
        {
        }

        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(kind));
        Assert.That(outcome.WorkerReusable, Is.EqualTo(reusable));
        Assert.That(outcome.Exception is null, Is.EqualTo(kind == SessionOutcomeKind.Finished));
    }

    [Test]
    public async Task B17_reading_the_outcome_before_any_terminal_is_an_error()
    {
        var (client, session) = Open(Scripts.Echo);
        using var owner = client;

        Assert.Throws<InvalidOperationException>(() => _ = session.Outcome);
        Assert.That(() => new SessionStateMachine().Outcome, Throws.InvalidOperationException.With.Message.Contains("not ended yet"));
        await session.InitAsync(Init()).DefaultTimeout();
        Assert.Throws<InvalidOperationException>(() => _ = session.Outcome);
        Assert.That(session.HasEnded, Is.False);
        await session.CloseAsync().DefaultTimeout();
        Assert.That(session.Outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
    }

    [Test]
    public async Task Closing_before_init_settles_Cancelled_without_opening_a_stream_and_releases_a_reusable_worker()
    {
        var lease = new RecordingLease();
        var (client, session) = Open(Scripts.Echo, lease: lease);
        using var owner = client;

        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
        Assert.That(outcome.WorkerReusable, Is.True);
        Assert.That(lease.Releases, Is.EqualTo(1));
        Assert.That(Host.Registry.TryGetCall(out var _), Is.False);
        Assert.ThrowsAsync<InvalidOperationException>(() => session.InitAsync(Init()));
    }

    private static SessionOutcome Outcome(SessionOutcomeKind kind) =>
        new(kind, null, null, null, null, null, null, null, new SessionDiagnostics { Worker = "w", SessionId = 1, Phase = SessionPhase.Processing });

    private sealed class RecordingLease : ISessionLease
    {
        private readonly List<string> _order = [];

        public bool ThrowOnRelease { get; init; }

        public bool ThrowOnInvalidate { get; init; }

        public int Releases => _order.Count(o => o == "release");

        public int Invalidations => _order.Count(o => o == "invalidate");

        public IReadOnlyList<string> Order
        {
            get
            {
                lock (_order)
                {
                    return [.. _order];
                }
            }
        }

        public SessionOutcome? Released { get; private set; }

        public void Invalidate(SessionOutcome outcome)
        {
            lock (_order)
            {
                _order.Add("invalidate");
            }

            if (ThrowOnInvalidate)
            {
                throw new InvalidOperationException("invalidate hook failed");
            }
        }

        public ValueTask ReleaseAsync(SessionOutcome outcome)
        {
            lock (_order)
            {
                _order.Add("release");
            }

            Released = outcome;
            if (ThrowOnRelease)
            {
                throw new InvalidOperationException("release hook failed");
            }

            return ValueTask.CompletedTask;
        }

        public ValueTask<string?> ExplainStreamFailureAsync() => ValueTask.FromResult<string?>(null);
    }
}
