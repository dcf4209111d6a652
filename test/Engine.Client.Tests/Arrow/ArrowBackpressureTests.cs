using System.Runtime.CompilerServices;
using System.Text;
using Apache.Arrow;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using Engine.Samples;

namespace Engine.Client.Tests.Arrow;

/// <summary>
/// Bounded memory under backpressure, counted in batches over a real Unix socket against the
/// reference worker: a slow consumer never has more than <see cref="SessionOptions.OutputBufferCapacity"/>
/// + 1 output batches received and not yet consumed (the buffer, plus the one the reader holds
/// while it waits), and a slow worker never makes the session ask for an input batch before the
/// previous one was written.
/// </summary>
[TestFixture]
public sealed class ArrowBackpressureTests
{
    private ReferenceWorkerProcess _worker = null!;
    private WorkerClient _client = null!;

    [OneTimeSetUp]
    public async Task StartWorker()
    {
        _worker = await ReferenceWorkerProcess.StartAsync();
        _client = _worker.CreateClient();
    }

    [OneTimeTearDown]
    public async Task StopWorker()
    {
        await _client.DisposeAsync();
        await _worker.DisposeAsync();
    }

    [Test]
    public async Task A_slow_consumer_holds_at_most_the_output_buffer_plus_one_batch()
    {
        const int Capacity = 3;
        const int Batches = 200;
        await using var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts(o => o.OutputBufferCapacity = Capacity));
        await session.InitAsync(SessionInit.ForArrow(Encoding.UTF8.GetBytes($"generate {Batches * 1000} batch 1000"), "builtin", inputSchema: null)).DefaultTimeout();
        using var deadline = new CancellationTokenSource(TaskTimeouts.Default);
        long consumed = 0;
        long maxInFlight = 0;
        var stalls = 0;

        void Observe() => maxInFlight = Math.Max(maxInFlight, session.Diagnostics.BatchesReceived - consumed);

        await foreach (var batch in session.ProcessAsync(AsyncEnumerable.Empty<RecordBatch>()).WithCancellation(deadline.Token))
        {
            consumed++;
            Observe();
            if (consumed % 40 == 1)
            {
                // The consumer stalls: the reader fills the buffer and must then stop reading.
                // First wait until it is full (proof that backpressure engaged), then let the
                // worker have a few more round trips' time to push more, and look again.
                await UntilAsync(() => session.Diagnostics.BatchesReceived - consumed >= Capacity + 1, deadline.Token);
                for (var i = 0; i < 5; i++)
                {
                    await _client.HeartbeatAsync(cancellationToken: deadline.Token);
                    Observe();
                }

                stalls++;
            }
        }

        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.Multiple(() =>
        {
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished));
            Assert.That(consumed, Is.EqualTo(Batches));
            Assert.That(stalls, Is.EqualTo(5));
            Assert.That(maxInFlight, Is.EqualTo(Capacity + 1), "received and not yet consumed: the buffer plus the batch the reader holds");
        });
    }

    [Test]
    public async Task A_slow_worker_gets_one_input_batch_at_a_time_and_the_output_stays_bounded()
    {
        const int Batches = 60;
        const int Capacity = 4;
        await using var session = await _client.OpenSessionAsync(TaskTimeouts.HugeTimeouts(o => o.OutputBufferCapacity = Capacity));
        await session.InitAsync(SessionInit.ForArrow(Encoding.UTF8.GetBytes("delay 3ms; add x 1"), "builtin", SampleData.Schema)).DefaultTimeout();
        long requested = 0;
        long maxAhead = 0;
        long consumed = 0;
        long maxInFlight = 0;
        long rows = 0;

        async IAsyncEnumerable<RecordBatch> Source([EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            foreach (var batch in SampleData.CreateBatches(Batches * 2_000L, 2_000))
            {
                using (batch)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    requested++;
                    maxAhead = Math.Max(maxAhead, requested - session.Diagnostics.BatchesSent);
                    yield return batch;
                }
            }

            await Task.CompletedTask;
        }

        using var deadline = new CancellationTokenSource(TaskTimeouts.Default);
        await foreach (var batch in session.ProcessAsync(Source()).WithCancellation(deadline.Token))
        {
            consumed++;
            rows += batch.Length;
            maxInFlight = Math.Max(maxInFlight, session.Diagnostics.BatchesReceived - consumed);
        }

        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.Multiple(() =>
        {
            Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished));
            Assert.That(requested, Is.EqualTo(Batches));
            Assert.That(maxAhead, Is.EqualTo(1), "requested minus written: the next batch is asked for only once the previous one was written");
            Assert.That(rows, Is.EqualTo(Batches * 2_000L));
            Assert.That(maxInFlight, Is.LessThanOrEqualTo(Capacity + 1));
            Assert.That(outcome.Metrics!.WorkWallNanos, Is.GreaterThanOrEqualTo(Batches * 3_000_000UL), "the worker was slow: 3 ms per batch");
        });
    }

    /// <summary>Waits for <paramref name="condition"/>, one Manage heartbeat round trip per look: never a sleep.</summary>
    private async Task UntilAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        while (!condition())
        {
            await _client.HeartbeatAsync(cancellationToken: cancellationToken);
        }
    }
}
