using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace Engine.Client.Tests.Conformance;

/// <summary>
/// A connection middleware for Kestrel that rejects keepalive pings as gRPC core does with its
/// default policy: it reads the HTTP/2 frames the client sends and closes the connection on the
/// third keepalive PING (gRPC core sends GOAWAY "too_many_pings" after more than 2 strikes). The
/// .NET client's keepalive pings carry a non-negative payload; the pings it sends to measure the
/// round trip for flow control carry a negative one and are not counted (gRPC core does not count
/// pings while it sends data either).
/// </summary>
public static class PingLimit
{
    /// <summary>The keepalive PING that closes the connection.</summary>
    public const int ClosingPing = 3;

    private const int PrefaceLength = 24;
    private const int FrameHeaderLength = 9;
    private const byte PingType = 0x6;
    private const byte AckFlag = 0x1;

    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware { get; } = next => async connection =>
    {
        var original = connection.Transport;
        var inspected = new Pipe();
        connection.Transport = new DuplexPipe(inspected.Reader, original.Output);
        _ = PumpAsync(original.Input, inspected.Writer, connection);
        await next(connection);
    };

    private static async Task PumpAsync(PipeReader input, PipeWriter output, ConnectionContext connection)
    {
        var frames = new FrameScanner();
        try
        {
            while (true)
            {
                var result = await input.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    frames.Scan(segment.Span);
                    output.Write(segment.Span);
                }

                input.AdvanceTo(result.Buffer.End);
                if (frames.KeepAlivePings >= ClosingPing)
                {
                    connection.Abort(new ConnectionAbortedException("deviation: too many keepalive pings"));
                    break;
                }

                var flushed = await output.FlushAsync();
                if (result.IsCompleted || flushed.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or ConnectionAbortedException or OperationCanceledException or InvalidOperationException)
        {
            // The connection ended.
        }
        finally
        {
            await output.CompleteAsync();
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    /// <summary>Follows the client's byte stream frame by frame: the preface, then 9-byte headers and their payloads.</summary>
    private sealed class FrameScanner
    {
        private readonly byte[] _header = new byte[FrameHeaderLength];
        private readonly byte[] _ping = new byte[8];
        private int _prefaceLeft = PrefaceLength;
        private int _headerFilled;
        private long _payloadLeft;
        private bool _inPing;
        private int _pingFilled;

        public int KeepAlivePings { get; private set; }

        public void Scan(ReadOnlySpan<byte> bytes)
        {
            while (!bytes.IsEmpty)
            {
                if (_prefaceLeft > 0)
                {
                    var skip = Math.Min(_prefaceLeft, bytes.Length);
                    _prefaceLeft -= skip;
                    bytes = bytes[skip..];
                }
                else if (_payloadLeft > 0)
                {
                    var take = (int)Math.Min(_payloadLeft, bytes.Length);
                    if (_inPing)
                    {
                        var copy = Math.Min(take, _ping.Length - _pingFilled);
                        bytes[..copy].CopyTo(_ping.AsSpan(_pingFilled));
                        _pingFilled += copy;
                        if (_pingFilled == _ping.Length)
                        {
                            if (BinaryPrimitives.ReadInt64BigEndian(_ping) >= 0)
                            {
                                KeepAlivePings++;
                            }

                            _inPing = false;
                        }
                    }

                    _payloadLeft -= take;
                    bytes = bytes[take..];
                }
                else
                {
                    var copy = Math.Min(FrameHeaderLength - _headerFilled, bytes.Length);
                    bytes[..copy].CopyTo(_header.AsSpan(_headerFilled));
                    _headerFilled += copy;
                    bytes = bytes[copy..];
                    if (_headerFilled == FrameHeaderLength)
                    {
                        _headerFilled = 0;
                        _payloadLeft = (_header[0] << 16) | (_header[1] << 8) | _header[2];
                        _inPing = _header[3] == PingType && (_header[4] & AckFlag) == 0 && _payloadLeft == 8;
                        _pingFilled = 0;
                    }
                }
            }
        }
    }
}
