using System.Buffers;

namespace Engine.Client.Arrow;

/// <summary>
/// A write-only, growable stream over one pooled array, reused for every frame a session encodes:
/// <see cref="Reset"/> rewinds it, so steady-state encoding allocates no buffer at all. It grows
/// (renting a larger array and returning the old one) only when a frame is larger than any before.
/// </summary>
/// <remarks>
/// Not thread-safe. <see cref="Written"/> aliases the pooled array: it is valid until the next
/// <see cref="Reset"/> or write, and never after <see cref="Stream.Dispose()"/>.
/// </remarks>
internal sealed class FrameBuffer : Stream
{
    private const int MinimumCapacity = 64 * 1024;

    private readonly ArrayPool<byte> _pool;
    private byte[] _buffer;
    private int _length;

    public FrameBuffer(int initialCapacity = MinimumCapacity, ArrayPool<byte>? pool = null)
    {
        _pool = pool ?? ArrayPool<byte>.Shared;
        _buffer = _pool.Rent(Math.Max(initialCapacity, 1));
    }

    /// <summary>The bytes written since the last <see cref="Reset"/>.</summary>
    public ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, _length);

    /// <summary>The array in use now (for tests that prove reuse).</summary>
    internal byte[] Array => _buffer;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => _length;

    public override long Position
    {
        get => _length;
        set => throw new NotSupportedException();
    }

    /// <summary>Forgets what was written; the array is kept for the next frame.</summary>
    public void Reset() => _length = 0;

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        EnsureCapacity(buffer.Length);
        buffer.CopyTo(_buffer.AsSpan(_length));
        _length += buffer.Length;
    }

    public override void WriteByte(byte value)
    {
        EnsureCapacity(1);
        _buffer[_length++] = value;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && _buffer.Length > 0)
        {
            _pool.Return(_buffer);
            _buffer = [];
            _length = 0;
        }

        base.Dispose(disposing);
    }

    private void EnsureCapacity(int more)
    {
        ObjectDisposedException.ThrowIf(_buffer.Length == 0, this);
        var needed = (long)_length + more;
        if (needed <= _buffer.Length)
        {
            return;
        }

        if (needed > System.Array.MaxLength)
        {
            throw new InvalidOperationException($"An Arrow frame would exceed {System.Array.MaxLength} bytes.");
        }

        var capacity = (int)Math.Min(System.Array.MaxLength, Math.Max(needed, (long)_buffer.Length * 2));
        var larger = _pool.Rent(capacity);
        _buffer.AsSpan(0, _length).CopyTo(larger);
        _pool.Return(_buffer);
        _buffer = larger;
    }
}
