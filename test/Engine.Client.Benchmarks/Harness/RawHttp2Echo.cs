using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Engine.Client.Protocol;
using Google.Protobuf;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>
/// The .NET ceiling: the runtime's HTTP/2 client (<see cref="SocketsHttpHandler"/>) carrying the
/// echo session as one duplex POST with gRPC's length-prefixed framing written by hand, and nothing
/// else. The Init, data and Finish messages are serialized once, with their 5-byte prefixes, and
/// written again and again; the reader reads each response message's prefix and its bytes into one
/// reused buffer and looks at the first byte only (the oneof branch). No Grpc.Net.Client, no
/// protobuf on the data path, no copy out of the stream: what is left is the runtime's HTTP/2 and
/// the socket. Same handler settings as the SDK's channel (4 MiB stream window).
/// </summary>
public sealed class RawHttp2Echo : IDisposable
{
    private const string ExecutePath = "/org.apache.spark.udf.worker.UdfWorker/Execute";

    private readonly HttpMessageInvoker _invoker;
    private readonly Uri _uri;

    public RawHttp2Echo(ReferenceWorker worker)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = false,
            InitialHttp2StreamWindowSize = 4 * 1024 * 1024,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
        };
        if (worker.SocketPath is { } path)
        {
            handler.ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
            _uri = new Uri("http://localhost" + ExecutePath);
        }
        else
        {
            _uri = new Uri(worker.Address.TrimEnd('/') + ExecutePath);
        }

        _invoker = new HttpMessageInvoker(handler);
    }

    /// <summary>One echo session of <paramref name="count"/> batches; returns the batches that came back.</summary>
    public async Task<long> EchoAsync(ReadOnlyMemory<byte> batch, long count, CancellationToken cancellationToken = default)
    {
        var init = Frame(new UdfRequest
        {
            Control = new UdfControlRequest
            {
                Init = new Init
                {
                    ProtocolVersion = SessionInit.CurrentProtocolVersion,
                    DataFormat = UDFWorkerDataFormat.Arrow,
                    Udf = new UdfPayload { Format = "echo", Payload = ByteString.CopyFromUtf8("echo") },
                },
            },
        });
        var data = Frame(new UdfRequest { Data = new DataRequest { Data = UnsafeByteOperations.UnsafeWrap(batch) } });
        var finish = Frame(new UdfRequest { Control = new UdfControlRequest { Finish = new Finish() } });

        var content = new DuplexContent();
        using var request = new HttpRequestMessage(HttpMethod.Post, _uri)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        var responseTask = _invoker.SendAsync(request, cancellationToken);
        var requestStream = await content.Stream.ConfigureAwait(false);
        await requestStream.WriteAsync(init, cancellationToken).ConfigureAwait(false);
        await requestStream.FlushAsync(cancellationToken).ConfigureAwait(false);
        using var response = await responseTask.ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"Execute answered HTTP {(int)response.StatusCode}.");
        }

        await using var responses = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[Math.Max(64 * 1024, batch.Length + 64)];
        if (await ReadMessageAsync(responses, buffer, cancellationToken).ConfigureAwait(false) != 0x0A)
        {
            throw new InvalidOperationException("The worker did not answer Init.");
        }

        var writer = Task.Run(
            async () =>
            {
                for (long i = 0; i < count; i++)
                {
                    await requestStream.WriteAsync(data, cancellationToken).ConfigureAwait(false);
                }

                await requestStream.WriteAsync(finish, cancellationToken).ConfigureAwait(false);
                await requestStream.FlushAsync(cancellationToken).ConfigureAwait(false);
            },
            cancellationToken);

        long batches = 0;
        while (true)
        {
            var first = await ReadMessageAsync(responses, buffer, cancellationToken).ConfigureAwait(false);
            if (first == 0x12)
            {
                batches++;
            }
            else if (first == 0x0A)
            {
                break; // the FinishResponse: the only control message after the InitResponse here
            }
            else
            {
                throw new InvalidOperationException("The stream ended without a FinishResponse.");
            }
        }

        await writer.ConfigureAwait(false);
        content.Complete();
        while (await responses.ReadAsync(buffer, cancellationToken).ConfigureAwait(false) > 0)
        {
        }

        if (batches != count)
        {
            throw new InvalidOperationException($"Echo lost data: sent {count} batches, got {batches}.");
        }

        return batches;
    }

    public void Dispose() => _invoker.Dispose();

    /// <summary>Reads one length-prefixed message into <paramref name="buffer"/>; returns its first byte, or -1 at the end of the stream.</summary>
    private static async ValueTask<int> ReadMessageAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        if (!await ReadExactlyOrEndAsync(stream, buffer.AsMemory(0, 5), cancellationToken).ConfigureAwait(false))
        {
            return -1;
        }

        var length = BinaryPrimitives.ReadInt32BigEndian(buffer.AsSpan(1));
        if (length > buffer.Length)
        {
            throw new InvalidOperationException($"A message of {length} bytes does not fit the buffer.");
        }

        await stream.ReadExactlyAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
        return length == 0 ? -1 : buffer[0];
    }

    private static async ValueTask<bool> ReadExactlyOrEndAsync(Stream stream, Memory<byte> target, CancellationToken cancellationToken)
    {
        var read = await stream.ReadAtLeastAsync(target, target.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        return read == target.Length;
    }

    private static byte[] Frame(UdfRequest message)
    {
        var size = message.CalculateSize();
        var frame = new byte[5 + size];
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(1), size);
        message.WriteTo(frame.AsSpan(5));
        return frame;
    }

    /// <summary>A request body the caller writes while the response is read (gRPC's duplex pattern).</summary>
    private sealed class DuplexContent : HttpContent
    {
        private readonly TaskCompletionSource<Stream> _stream = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public DuplexContent() => Headers.ContentType = new MediaTypeHeaderValue("application/grpc");

        public Task<Stream> Stream => _stream.Task;

        public void Complete() => _done.TrySetResult();

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            _stream.TrySetResult(stream);
            return _done.Task;
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
