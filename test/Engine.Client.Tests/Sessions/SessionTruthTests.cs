using System.Text;
using Apache.Arrow;
using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
using Google.Protobuf;
using static Engine.Client.Tests.Arrow.ArrowTestData;
using static Engine.Client.Tests.Infrastructure.ScriptedStream;

namespace Engine.Client.Tests.Sessions;

/// <summary>
/// Every success is true: a session never ends Finished for input the worker did not read or output
/// the engine rejected, and a session abandoned before Init leaves no unobserved task exception.
/// Runs in-process, over a Unix domain socket and over TCP loopback.
/// </summary>
[TestFixture(HostKind.InProcess)]
[TestFixture(HostKind.UnixSocket)]
[TestFixture(HostKind.Tcp)]
public sealed class SessionTruthTests(HostKind kind) : ScriptedWorkerFixture(kind)
{

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Items(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return Encoding.UTF8.GetBytes($"batch {i}");
        }
    }

    // Issue case: a FinishResponse sent before the worker read the input (InitResponse and
    // FinishResponse back to back) raced the engine's Finish and was accepted in a share of sessions.
    // Whether the early answer goes out before the engine's Finish (a race the engine may lose) or
    // after it (a worker that dropped the input), its metrics give it away.
    [TestCase(false)]
    [TestCase(true)]
    public async Task A_FinishResponse_that_reports_less_input_than_was_sent_never_ends_Finished(bool afterFinish)
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            if (afterFinish)
            {
                await stream.ReadUntilAsync(IsFinish);
            }

            await stream.WriteAsync(Responses.Finish(metrics: new ExecutionMetrics { BatchesIn = 0 }));
            await Scripts.AwaitHalfCloseAsync(stream);
        });
        using var client = Host.CreateClient();
        var outcomes = new List<SessionOutcome>();
        for (var i = 0; i < 60; i++)
        {
            var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
            await session.InitAsync(new SessionInit(Encoding.UTF8.GetBytes("p"), "f")).DefaultTimeout();
            try
            {
                await session.ProcessAsync(Items(3)).ToListAsync();
            }
            catch (WorkerTransportException)
            {
                // Expected for every session; the outcome says why.
            }

            outcomes.Add(await session.CloseAsync().DefaultTimeout());
        }

        Assert.That(outcomes.Where(o => o.Kind != SessionOutcomeKind.TransportFailed).Select(o => o.ToString()), Is.Empty);
        Assert.That(
            outcomes.Select(o => ((WorkerTransportException)o.Exception!).Reason).Distinct(),
            Is.EqualTo(new[] { TransportFailureReason.ProtocolViolation }));
        Assert.That(
            outcomes.Select(o => o.Exception!.Message),
            Has.All.Contain("Protocol violation by the worker").And.All.Contain("Finish"));
    }

    [Test]
    public async Task A_FinishResponse_that_reports_every_batch_sent_ends_Finished()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(new SessionInit(Encoding.UTF8.GetBytes("p"), "f")).DefaultTimeout();

        var output = await session.ProcessAsync(Items(5)).ToListAsync();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(output, Has.Count.EqualTo(5));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        Assert.That(outcome.Metrics!.BatchesIn, Is.EqualTo(5UL));
    }

    // Issue case: a DataResponse the Arrow layer rejects, then the worker's FinishResponse (already on
    // its way before the engine's Cancel): ProcessAsync threw, but CloseAsync said Finished.
    [Test]
    public async Task Output_rejected_while_the_FinishResponse_is_on_its_way_ends_Failed_with_the_rejection()
    {
        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.ReadUntilAsync(IsFinish);
            await stream.WriteAsync(Responses.Data(ByteString.CopyFromUtf8("this is not an Arrow IPC stream")));
            await stream.WriteAsync(Responses.Finish(metrics: new ExecutionMetrics { BatchesIn = 1 }));
            await Scripts.AwaitHalfCloseAsync(stream);
        });
        using var client = Host.CreateClient();
        for (var i = 0; i < 20; i++)
        {
            using var input = Ints("x", 3);
            var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
            await session.InitAsync(SessionInit.ForArrow(Encoding.UTF8.GetBytes("udf"), "test", input.Schema, input.Schema)).DefaultTimeout();
            WorkerOutputException? rejected = null;
            try
            {
                await foreach (var batch in session.ProcessAsync(One(input)).WithCancellation(default))
                {
                    batch.Dispose();
                }
            }
            catch (WorkerOutputException ex)
            {
                rejected = ex;
            }

            var outcome = await session.CloseAsync().DefaultTimeout();

            Assert.That(rejected, Is.Not.Null, $"session {i}: the invalid output was not rejected");
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Failed), $"session {i}: {outcome}");
            Assert.That(outcome.Exception, Is.SameAs(rejected));
            Assert.That(rejected!.Message, Does.Not.Contain("was cancelled"));
        }
    }

    private static async IAsyncEnumerable<RecordBatch> One(RecordBatch batch)
    {
        await Task.Yield();
        yield return batch;
    }

    // Issue case: closing before Init, or cancelling InitAsync's token, left Init's faulted task
    // unobserved (UnobservedTaskException once collected).
    [Test]
    public async Task Sessions_closed_or_cancelled_before_Init_completes_leave_no_unobserved_task_exception()
    {
        var unobserved = 0;
        void Count(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            if (e.Exception.InnerExceptions.Any(x => x.StackTrace?.Contains("Engine.Client", StringComparison.Ordinal) == true
                || x.Message.Contains("session", StringComparison.OrdinalIgnoreCase)))
            {
                Interlocked.Increment(ref unobserved);
            }
        }

        Host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await Scripts.AnswerCancelAsync(stream);
            await Scripts.AwaitHalfCloseAsync(stream);
        });
        TaskScheduler.UnobservedTaskException += Count;
        try
        {
            using var client = Host.CreateClient();
            await AbandonSessionsAsync(client);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= Count;
        }

        Assert.That(unobserved, Is.Zero);
    }

    private static async Task AbandonSessionsAsync(WorkerClient client)
    {
        for (var i = 0; i < 50; i++)
        {
            // Closed before Init.
            var closed = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
            await closed.CloseAsync().DefaultTimeout();

            // InitAsync cancelled by its token while the worker withholds InitResponse.
            var cancelled = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
            using var cts = new CancellationTokenSource();
            var init = cancelled.InitAsync(new SessionInit(Encoding.UTF8.GetBytes("p"), "f"), cts.Token);
            await cts.CancelAsync();
            try
            {
                await init.DefaultTimeout();
            }
            catch (OperationCanceledException)
            {
                // Expected.
            }

            await cancelled.CloseAsync().DefaultTimeout();
        }
    }
}
