using Google.Protobuf;

namespace Engine.ReferenceWorker.Execution;

/// <summary>
/// Assembles a chunked UDF payload (docs/protocol.md rule 2): the inline bytes, then every chunk in
/// arrival order. Keeps references to the received buffers and copies once, at the end.
/// </summary>
internal sealed class PayloadAssembler
{
    private readonly List<ByteString> _parts = [];
    private readonly long _limit;

    /// <param name="inline">The Init's inline payload (may be empty).</param>
    /// <param name="declaredSize">The Init's payload_size, when set: more bytes than that is an error at once.</param>
    public PayloadAssembler(ByteString inline, long? declaredSize)
    {
        _limit = declaredSize is >= 0 ? Math.Min(declaredSize.Value, Array.MaxLength) : Array.MaxLength;
        if (!inline.IsEmpty)
        {
            _parts.Add(inline);
            Length = inline.Length;
        }
    }

    public long Length { get; private set; }

    public int Chunks { get; private set; }

    /// <summary>Appends a chunk; <see langword="false"/> when the payload would exceed its declared size (or the largest possible array).</summary>
    public bool TryAppend(ByteString chunk)
    {
        Chunks++;
        if (Length + chunk.Length > _limit)
        {
            Length += chunk.Length;
            return false;
        }

        _parts.Add(chunk);
        Length += chunk.Length;
        return true;
    }

    public ByteString Assemble()
    {
        if (_parts.Count == 0)
        {
            return ByteString.Empty;
        }

        if (_parts.Count == 1)
        {
            return _parts[0];
        }

        var bytes = new byte[Length];
        var offset = 0;
        foreach (var part in _parts)
        {
            part.Span.CopyTo(bytes.AsSpan(offset));
            offset += part.Length;
        }

        return UnsafeByteOperations.UnsafeWrap(bytes);
    }
}
