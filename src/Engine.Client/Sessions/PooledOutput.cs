using System.Buffers;
using Engine.Client.Transport;

namespace Engine.Client;

/// <summary>
/// One output batch of <see cref="WorkerSession.ProcessPooledAsync(IAsyncEnumerable{ReadOnlyMemory{byte}}, ProcessOptions?, CancellationToken)"/>,
/// owned by the caller: its bytes stay valid until the caller disposes it, which returns the buffer
/// to the pool for a later batch.
/// </summary>
/// <remarks>
/// After <see cref="Dispose"/> the batch cannot be read: <see cref="Memory"/> throws
/// <see cref="ObjectDisposedException"/>, and so does every use (<c>Span</c>, <c>ToArray</c>,
/// <c>Pin</c>) of a <see cref="Memory{T}"/> taken from it before, so a reader that kept it fails
/// instead of reading another batch's bytes. Not disposing it is safe too: the buffer is then left to
/// the garbage collector like an ordinary array. Dispose a batch once, from one thread, after every
/// reader of it is done.
/// </remarks>
public sealed class PooledOutput : IMemoryOwner<byte>
{
    private readonly PooledBuffer _buffer;

    internal PooledOutput(PooledBuffer buffer) => _buffer = buffer;

    /// <summary>The batch's bytes, in the session's data format.</summary>
    /// <exception cref="ObjectDisposedException">The batch was disposed.</exception>
    public Memory<byte> Memory => _buffer.IsDisposed ? throw new ObjectDisposedException(nameof(PooledOutput)) : _buffer.Memory;

    /// <summary>The batch's length in bytes (also after disposal).</summary>
    public int Length => _buffer.Length;

    /// <summary>Whether the batch was disposed (its buffer returned).</summary>
    public bool IsDisposed => _buffer.IsDisposed;

    /// <summary>Returns the batch's buffer to the pool; idempotent.</summary>
    public void Dispose() => ((IDisposable)_buffer).Dispose();
}
