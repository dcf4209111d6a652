using System.Text;
using Apache.Arrow;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using static Engine.Client.Tests.Arrow.ArrowTestData;

namespace Engine.Client.Tests.Sessions;

/// <summary>
/// Output received into pooled buffers (<see cref="SessionOptions.PooledOutput"/>), against a real
/// reference worker process: the bytes are the worker's, a batch the caller disposed cannot be read
/// any more (it throws, it never shows another batch's bytes), buffers are reused, and the
/// <see cref="ReadOnlyMemory{T}"/> and Arrow APIs keep their meaning.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class PooledOutputTests(bool tcp)
{
    private ReferenceWorkerProcess _worker = null!;
    private WorkerClient _client = null!;

    [OneTimeSetUp]
    public async Task Start()
    {
        _worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { UseTcp = tcp });
        _client = _worker.CreateClient();
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _client.Dispose();
        await _worker.DisposeAsync();
    }

    private WorkerSession Open(bool pooled = true) => _client.OpenSession(TaskTimeouts.HugeTimeouts(o => o.PooledOutput = pooled), lease: null);

    private static SessionInit Echo() => new(Encoding.UTF8.GetBytes("echo"), "echo");

    /// <summary>Batches whose bytes all differ: batch i is filled with (i + j) mod 251.</summary>
    private static byte[] Batch(int index, int size)
    {
        var batch = new byte[size];
        for (var j = 0; j < size; j++)
        {
            batch[j] = (byte)((index + j) % 251);
        }

        return batch;
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Items(int count, int size)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return Batch(i, size);
        }
    }

    [TestCase(1)]
    [TestCase(100_000)]
    [TestCase(1024 * 1024)]
    public async Task Pooled_batches_carry_the_workers_bytes_and_the_session_finishes(int size)
    {
        await using var session = Open();
        await session.InitAsync(Echo()).DefaultTimeout();
        var index = 0;
        await foreach (var batch in session.ProcessPooledAsync(Items(6, size)).WithCancellation(CancellationToken.None))
        {
            using (batch)
            {
                Assert.That(batch.Memory.ToArray(), Is.EqualTo(Batch(index, size)), $"batch {index}");
                Assert.That(batch.Length, Is.EqualTo(size));
            }

            index++;
        }

        var outcome = await session.CloseAsync().DefaultTimeout();
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
        Assert.That(index, Is.EqualTo(6));
    }

    [Test]
    public async Task A_batch_disposed_early_and_read_late_throws_ObjectDisposedException_and_never_shows_a_later_batch()
    {
        await using var session = Open();
        await session.InitAsync(Echo()).DefaultTimeout();
        var kept = new List<(PooledOutput Batch, ReadOnlyMemory<byte> Memory)>();
        await foreach (var batch in session.ProcessPooledAsync(Items(8, 64 * 1024)).WithCancellation(CancellationToken.None))
        {
            // Keep the memory, dispose the owner at once: the buffer goes back to the pool and the
            // next batches may be received into the very same array.
            var memory = (ReadOnlyMemory<byte>)batch.Memory;
            batch.Dispose();
            kept.Add((batch, memory));
        }

        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        Assert.That(kept, Has.Count.EqualTo(8));
        foreach (var (batch, memory) in kept)
        {
            Assert.That(batch.IsDisposed, Is.True);
            Assert.Throws<ObjectDisposedException>(() => _ = batch.Memory);
            Assert.Throws<ObjectDisposedException>(() => _ = memory.Span[0]);
            Assert.Throws<ObjectDisposedException>(() => memory.ToArray());
            Assert.Throws<ObjectDisposedException>(() => memory.Pin());
            Assert.That(batch.Length, Is.EqualTo(64 * 1024));
            batch.Dispose(); // idempotent
        }
    }

    [Test]
    public async Task A_batch_kept_undisposed_stays_intact_while_later_batches_arrive()
    {
        await using var session = Open();
        await session.InitAsync(Echo()).DefaultTimeout();
        var all = new List<PooledOutput>();
        await foreach (var batch in session.ProcessPooledAsync(Items(12, 4096)).WithCancellation(CancellationToken.None))
        {
            // Disposing every other batch recycles buffers under the ones kept.
            all.Add(batch);
            if (all.Count % 2 == 0)
            {
                batch.Dispose();
            }
        }

        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        for (var i = 0; i < all.Count; i += 2)
        {
            Assert.That(all[i].Memory.ToArray(), Is.EqualTo(Batch(i, 4096)), $"batch {i}");
            all[i].Dispose();
        }
    }

    [Test]
    public async Task Received_buffers_are_reused_once_disposed()
    {
        await using var session = Open();
        await session.InitAsync(Echo()).DefaultTimeout();
        var arrays = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var batches = 0;
        await foreach (var batch in session.ProcessPooledAsync(Items(64, 256 * 1024)).WithCancellation(CancellationToken.None))
        {
            Assert.That(System.Runtime.InteropServices.MemoryMarshal.TryGetArray<byte>(batch.Memory, out _), Is.False, "the buffer's array is not exposed");
            using var pin = batch.Memory.Pin();
            arrays.Add(ArrayOf(batch));
            batch.Dispose();
            batches++;
        }

        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        Assert.That(batches, Is.EqualTo(64));

        // Received buffers come from the shared pool: at most the session's buffered batches (4), the
        // one being received and what the pool's per-thread caches hold are ever distinct.
        Assert.That(arrays, Has.Count.LessThan(32), "buffers were not reused");
    }

    [Test]
    public async Task Without_the_option_pooled_output_wraps_the_received_arrays_and_still_refuses_reads_after_dispose()
    {
        await using var session = Open(pooled: false);
        await session.InitAsync(Echo()).DefaultTimeout();
        var kept = new List<ReadOnlyMemory<byte>>();
        var index = 0;
        await foreach (var batch in session.ProcessPooledAsync(Items(3, 1000)).WithCancellation(CancellationToken.None))
        {
            Assert.That(batch.Memory.ToArray(), Is.EqualTo(Batch(index++, 1000)));
            kept.Add(batch.Memory);
            batch.Dispose();
        }

        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        Assert.Throws<ObjectDisposedException>(() => _ = kept[0].Span);
    }

    [Test]
    public async Task The_ReadOnlyMemory_output_of_a_pooled_session_stays_valid_after_the_enumeration_moves_on()
    {
        await using var session = Open();
        await session.InitAsync(Echo()).DefaultTimeout();
        var output = await session.ProcessAsync(Items(10, 100_000)).ToListAsync();
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        for (var i = 0; i < output.Count; i++)
        {
            Assert.That(output[i].ToArray(), Is.EqualTo(Batch(i, 100_000)), $"batch {i}");
        }
    }

    [Test]
    public async Task Arrow_batches_of_a_pooled_session_own_their_buffer_and_throw_once_disposed()
    {
        await using var session = Open();
        await session.InitAsync(SessionInit.ForArrow(Encoding.UTF8.GetBytes("echo"), "echo", null, null)).DefaultTimeout();
        var output = await session.ProcessAsync(Batches(Ints("x", 1000, first: 0), Ints("x", 1000, first: 1000), Ints("x", 500, first: 7))).ToListAsync();
        Assert.That((await session.CloseAsync().DefaultTimeout()).Kind, Is.EqualTo(SessionOutcomeKind.Finished));

        Assert.That(output, Has.Count.EqualTo(3));
        Assert.That(Rows(output[1]).Select(r => r[0]), Is.EqualTo(Enumerable.Range(1000, 1000).Select(v => (object?)v)));
        Assert.That(Rows(output[2]).Select(r => r[0]), Is.EqualTo(Enumerable.Range(7, 500).Select(v => (object?)v)));
        var column = (Int32Array)output[0].Column(0);
        Assert.That(column.GetValue(999), Is.EqualTo(999));

        output[0].Dispose();
        Assert.Throws<ObjectDisposedException>(() => column.GetValue(999));
        Assert.That(Rows(output[1]), Has.Count.EqualTo(1000), "disposing one batch leaves the others intact");
        output[1].Dispose();
        output[2].Dispose();
    }

    private static object ArrayOf(PooledOutput batch) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetMemoryManager<byte, Engine.Client.Transport.PooledBuffer>(batch.Memory, out var buffer)
            ? buffer.Array!
            : throw new AssertionException("the batch is not in a pooled buffer");
}
