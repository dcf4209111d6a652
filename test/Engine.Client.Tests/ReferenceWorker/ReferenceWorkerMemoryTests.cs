using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Engine.Client.Tests.Infrastructure;

namespace Engine.Client.Tests.ReferenceWorker;

/// <summary>
/// The reference worker's memory, over real processes and the SDK: a stream whose engine reads
/// no output lets the worker take only a bounded amount of input, and a worker gives the memory
/// of a burst of streams back once it is idle.
/// </summary>
[TestFixture]
public sealed class ReferenceWorkerMemoryTests
{
    private const int MiB = 1024 * 1024;

    private static readonly byte[] EchoPayload = Encoding.UTF8.GetBytes("echo");

    [Test]
    public async Task A_stream_whose_engine_reads_no_output_takes_a_bounded_number_of_batches()
    {
        // What one stream may hold, in 1 MiB batches: on the worker the HTTP/2 stream window
        // (4 MiB), 4 queued requests, the batch in the UDF and 16 MiB of output (about 25); on the
        // engine the session's output buffer (1 here), the batch read and the client's 4 MiB
        // stream window. Before the bound the worker queued 16 requests and 64 MiB of output
        // (measured: 31 to 35 batches now, 91 before).
        const int Bound = 48;
        const int Limit = 4 * Bound;

        await using var worker = await ReferenceWorkerProcess.StartAsync();
        await using var client = worker.CreateClient();
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts(options =>
        {
            options.OutputBufferCapacity = 1;
            options.CancelAcknowledgementTimeout = TimeSpan.FromSeconds(2);
        }));
        try
        {
            await session.InitAsync(new SessionInit(EchoPayload, "echo")).DefaultTimeout();
            var batch = new byte[MiB];
            var output = session.ProcessAsync(Repeat(batch, Limit)).GetAsyncEnumerator();
            try
            {
                // One echo read, then none: from here on the worker's output can only pile up.
                Assert.That(await output.MoveNextAsync().DefaultTimeout(), Is.True);

                var sent = await WaitUntilInputStopsAsync(worker, session, Limit);
                TestContext.Out.WriteLine($"batches the worker took while the engine read one echo: {sent}");
                Assert.That(sent, Is.LessThanOrEqualTo(Bound), $"the worker took {sent} MiB from an engine that reads no output. {session.Diagnostics.Describe()} {worker.Describe()}");
            }
            finally
            {
                // Leaving the enumeration unfinished cancels the session.
                await output.DisposeAsync().DefaultTimeout();
            }
        }
        finally
        {
            await session.CloseAsync().DefaultTimeout();
        }
    }

    [Test]
    public async Task After_a_burst_of_streams_the_idle_worker_gives_its_memory_back()
    {
        // 16 streams, each 16 MiB ahead of its engine at the same moment: about 250 MiB held by
        // the worker at once, within what a stream may hold (see the test above), so no stream waits
        // for another. Before, the worker kept all it had grown to (about 250 MiB above its
        // baseline, 10 s later); now it gives it back about a second after its last stream (a
        // compacting collection once idle), to some 35 MiB above the baseline: what stays is the
        // open connection's buffers.
        const int Streams = 16;
        const int BatchesPerStream = 16;
        const long Allowance = 64L * MiB;

        await using var worker = await ReferenceWorkerProcess.StartAsync();
        // A small engine-side window and output buffer: the batches ahead wait in the worker.
        await using var client = WorkerClient.Create(worker.Address, new WorkerClientOptions
        {
            Connection = { MaxSendMessageSize = ReferenceWorkerProcess.MaxMessageSize, Http2InitialStreamWindowSize = 65535 },
        });
        var baseline = await MetricAsync(client, "working_set_bytes");

        var batch = new byte[MiB];
        var allSent = new Countdown(Streams);
        var echoed = await Task.WhenAll(Enumerable.Range(0, Streams).Select(_ => EchoAheadAsync(client, batch, BatchesPerStream, allSent))).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(echoed, Is.All.EqualTo((long)BatchesPerStream * MiB));
        var atEnd = await MetricAsync(client, "working_set_bytes");

        // Heartbeats until the working set is back near its baseline, bounded: the condition
        // decides; each poll is a real round trip, which paces it.
        var clock = Stopwatch.StartNew();
        var last = atEnd;
        while (last > baseline + Allowance && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            last = await MetricAsync(client, "working_set_bytes");
        }

        TestContext.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"working set: baseline {baseline / MiB} MiB, after {Streams} x {BatchesPerStream} MiB echoed {atEnd / MiB} MiB, {clock.Elapsed.TotalSeconds:0.0} s later {last / MiB} MiB"));
        Assert.That(last, Is.LessThanOrEqualTo(baseline + Allowance), $"the idle worker kept {last / MiB} MiB (baseline {baseline / MiB} MiB, {atEnd / MiB} MiB after the burst). {worker.Describe()}");
    }

    /// <summary>
    /// How many batches the engine managed to send once the worker stopped taking input. "Stopped"
    /// is a judgment over time: no batch sent for <c>quiet</c> while the worker answered
    /// heartbeats (real round trips, which pace the polling). A loaded machine can
    /// only make that verdict come early, which lowers the count: it cannot make a bounded worker
    /// look unbounded.
    /// </summary>
    private static async Task<long> WaitUntilInputStopsAsync(ReferenceWorkerProcess worker, WorkerSession session, int limit)
    {
        var quiet = TimeSpan.FromSeconds(2);
        await using var client = worker.CreateClient();
        var deadline = Stopwatch.StartNew();
        var sinceChange = Stopwatch.StartNew();
        var sent = session.Diagnostics.BatchesSent;
        while (sinceChange.Elapsed < quiet && sent < limit && deadline.Elapsed < TaskTimeouts.Default)
        {
            await client.HeartbeatAsync(TimeSpan.FromSeconds(5)).DefaultTimeout();
            var now = session.Diagnostics.BatchesSent;
            if (now != sent)
            {
                sent = now;
                sinceChange.Restart();
            }
        }

        Assert.That(session.HasEnded, Is.False, $"the session must still be running. {session.Diagnostics.Describe()}");
        return sent;
    }

    /// <summary>
    /// One echo stream whose engine sends all <paramref name="batches"/>, then reads no more than
    /// the first echo until every stream of <paramref name="allSent"/> sent all of its own: the
    /// worker then holds the input and output of every stream at once.
    /// </summary>
    private static async Task<long> EchoAheadAsync(WorkerClient client, byte[] batch, int batches, Countdown allSent)
    {
        await using var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts(options => options.OutputBufferCapacity = 1));
        await session.InitAsync(new SessionInit(EchoPayload, "echo")).DefaultTimeout();
        long bytes = 0;
        await foreach (var output in session.ProcessAsync(Repeat(batch, batches, allSent.Signal)))
        {
            bytes += output.Length;
            await allSent.Zero.DefaultTimeout();
        }

        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
        return bytes;
    }

    private static async Task<long> MetricAsync(WorkerClient client, string metric)
    {
        var heartbeat = await client.HeartbeatAsync(TimeSpan.FromSeconds(5)).DefaultTimeout();
        return long.Parse(heartbeat.Metrics[metric], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// <paramref name="batch"/> <paramref name="count"/> times; <paramref name="afterLast"/> runs
    /// once the session asks for the item after the last, that is once the last was sent.
    /// </summary>
    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Repeat(byte[] batch, int count, Action? afterLast = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        for (var i = 0; i < count && !cancellationToken.IsCancellationRequested; i++)
        {
            await Task.Yield();
            yield return batch;
        }

        afterLast?.Invoke();
    }

    /// <summary>Completes <see cref="Zero"/> once signalled as many times as it was created with.</summary>
    private sealed class Countdown(int count)
    {
        private readonly TaskCompletionSource _zero = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _remaining = count;

        public Task Zero => _zero.Task;

        public void Signal()
        {
            if (Interlocked.Decrement(ref _remaining) == 0)
            {
                _zero.TrySetResult();
            }
        }
    }
}
