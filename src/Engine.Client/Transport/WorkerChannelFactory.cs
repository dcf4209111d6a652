using System.Net;
using System.Net.Sockets;
using Engine.Client.Diagnostics;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace Engine.Client.Transport;

/// <summary>Builds the one long-lived gRPC channel used for a worker.</summary>
internal static class WorkerChannelFactory
{
    public static GrpcChannel Create(WorkerAddress address, WorkerClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(options);

        var handler = CreateHandler(address, options);
        HttpMessageHandler outer = options.Connection.TokenProvider is { } tokens
            ? new TokenHandler(tokens, address.ToString(), options.TimeProvider) { InnerHandler = handler }
            : handler;

        if (address.Transport == WorkerTransport.Tcp && !address.UsesTls && !address.IsLocal)
        {
            // Once per client: each client creates its channel once.
            TransportLog.PlainTextToRemoteWorker(
                options.LoggerFactory.CreateLogger<WorkerClient>(),
                address.ToString(),
                options.Connection.TokenProvider is null ? string.Empty : " Its bearer tokens travel in the clear too.");
        }

        // The channel gets the handler itself, never an HttpClient: HttpClient's default 100 s
        // timeout would kill long Execute streams.
        var channelOptions = new GrpcChannelOptions
        {
            HttpHandler = outer,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = options.Connection.MaxReceiveMessageSize,
            MaxSendMessageSize = options.Connection.MaxSendMessageSize,
            LoggerFactory = options.LoggerFactory,
            // Retries are ours to decide (Init and Manage only); never replay a stream.
            MaxRetryAttempts = 0,
        };

        // Unix sockets: HTTP/2 needs an authority; non-Java gRPC servers reject a socket path as
        // :authority, so it is always "localhost".
        var target = address.Transport == WorkerTransport.UnixDomainSocket ? new Uri("http://localhost") : address.HttpUri!;
        return GrpcChannel.ForAddress(target, channelOptions);
    }

    internal static SocketsHttpHandler CreateHandler(WorkerAddress address, WorkerClientOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            // Pings only while calls are active: an idle engine must not keep idle workers busy.
            // None at all by default: gRPC-core servers close a connection pinged more often than
            // every 5 minutes while quiet (WorkerConnectionOptions.KeepAlivePingDelay).
            KeepAlivePingDelay = options.Connection.KeepAlivePingDelay,
            KeepAlivePingTimeout = options.Connection.KeepAlivePingTimeout,
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            ConnectTimeout = options.Connection.ConnectTimeout,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        if (options.Connection.Http2InitialStreamWindowSize is { } window)
        {
            handler.InitialHttp2StreamWindowSize = window;
        }

        var socketBuffer = options.Connection.SocketBufferSize;
        if (address.Transport == WorkerTransport.UnixDomainSocket)
        {
            var path = address.SocketPath!;
            handler.ConnectCallback = (_, ct) => ConnectUnixAsync(path, socketBuffer, ct);
        }
        else if (address.UsesTls)
        {
            // The handshake is ours, in the connect callback, so that its failures say why; the
            // handler uses the returned SslStream as is.
            var tls = TlsMaterial.Load(options.Connection.Tls);
            handler.ConnectCallback = async (context, ct) =>
            {
                var endPoint = context.DnsEndPoint;
                var stream = await ConnectTcpAsync(endPoint, socketBuffer, "https", ct).ConfigureAwait(false);
                return await TlsConnector.AuthenticateAsync(stream, endPoint.Host, endPoint.Port, tls, ct).ConfigureAwait(false);
            };
        }
        else
        {
            handler.ConnectCallback = (context, ct) => ConnectTcpAsync(context.DnsEndPoint, socketBuffer, "http", ct);
        }

        return handler;
    }

    private static async ValueTask<Stream> ConnectUnixAsync(string path, int? bufferSize, CancellationToken ct)
    {
        if (!File.Exists(path))
        {
            // The file's absence as its cause (an IOException): gRPC reports it as Unavailable, as
            // it does a refused connection, so a fleet retries the session on another worker.
            var message = $"no socket file exists at {path}: the worker is not running there, or has not started listening yet.";
            throw new WorkerUnreachableException("unix://" + path, message, new FileNotFoundException(message, path));
        }

        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            ApplyBufferSize(socket, bufferSize);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new WorkerUnreachableException("unix://" + path, DescribeSocketError(ex, "unix://" + path), ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async ValueTask<Stream> ConnectTcpAsync(DnsEndPoint endPoint, int? bufferSize, string scheme, CancellationToken ct)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            ApplyBufferSize(socket, bufferSize);
            await socket.ConnectAsync(endPoint, ct).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new WorkerUnreachableException($"{scheme}://{endPoint.Host}:{endPoint.Port}", DescribeSocketError(ex, $"{scheme}://{endPoint.Host}:{endPoint.Port}"), ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static void ApplyBufferSize(Socket socket, int? bufferSize)
    {
        if (bufferSize is { } size)
        {
            socket.SendBufferSize = size;
            socket.ReceiveBufferSize = size;
        }
    }

    private static string DescribeSocketError(SocketException ex, string where) => ex.SocketErrorCode switch
    {
        SocketError.ConnectionRefused => $"nothing listens at {where} (connection refused): is the worker running?",
        SocketError.AddressNotAvailable or SocketError.HostNotFound or SocketError.NoData =>
            $"the host of {where} cannot be resolved or reached ({ex.SocketErrorCode}).",
        SocketError.TimedOut => $"connecting to {where} timed out.",
        SocketError.AccessDenied => $"permission denied connecting to {where}: check the socket's directory permissions.",
        _ => $"connecting to {where} failed: {ex.Message} ({ex.SocketErrorCode}).",
    };
}
