using System.Net;
using System.Net.Sockets;
using System.Text;
using Engine.Client.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Engine.Client.Tests.Transport;

/// <summary>
/// A worker address where something else answers (a server sending other bytes, an HTTP/1.1 web
/// server, an HTTP/2 server without the gRPC service): the error says that the server did not
/// answer as a gRPC worker and what to check, never that the client was disposed, and never only
/// the HTTP stack's own words.
/// </summary>
[TestFixture]
public sealed class NotAWorkerTests
{
    private const string Expected = "did not answer as a gRPC worker";

    [Test]
    public async Task A_server_sending_other_bytes_is_named_as_not_a_gRPC_worker()
    {
        await using var server = RawServer.Start("\u001b[2J not a gRPC server\r\n\r\n");
        await AssertNotAWorkerAsync(server.Address);
    }

    [Test]
    public async Task An_HTTP_1_1_web_server_is_named_as_not_a_gRPC_worker()
    {
        await using var server = RawServer.Start("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        await AssertNotAWorkerAsync(server.Address);
    }

    [Test]
    public async Task An_HTTP_2_server_without_the_gRPC_service_is_named_as_not_a_gRPC_worker()
    {
        var port = ReferenceWorker.ReferenceWorkerProcess.FreeTcpPort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, o => o.Protocols = HttpProtocols.Http2));
        await using var app = builder.Build();
        await app.StartAsync().DefaultTimeout();
        try
        {
            var error = await AssertNotAWorkerAsync($"http://127.0.0.1:{port}");
            Assert.That(error, Does.Contain("Bad gRPC response"));
        }
        finally
        {
            await app.StopAsync().DefaultTimeout();
        }
    }

    [Test]
    public void A_disposed_socket_stream_under_a_failed_HTTP_2_handshake_is_not_taken_for_a_disposed_client()
    {
        // What Grpc.Net.Client reports when the server closes the connection during the handshake.
        var handshake = new HttpRequestException(
            "An error occurred while sending the request.",
            new IOException(
                "An HTTP/2 connection could not be established because the server did not complete the HTTP/2 handshake.",
                new ObjectDisposedException("System.Net.Sockets.NetworkStream")));
        var rpc = new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, "Error starting gRPC call. HttpRequestException: An error occurred while sending the request.", handshake));

        var cause = WorkerTransportException.DescribeCause(rpc);

        Assert.That(cause, Does.Contain(Expected).And.Not.Contain("disposed"));
        Assert.That(
            WorkerTransportException.DescribeCause(new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, "x", new ObjectDisposedException("GrpcChannel")))),
            Does.Contain("WorkerClient was disposed"),
            "a call on a disposed channel is still named as such");
        Assert.That(
            WorkerTransportException.DescribeCause(new HttpRequestException("An error occurred while sending the request.", new WorkerUnreachableException("unix:///nowhere/w.sock", "nothing listens at unix:///nowhere/w.sock"))),
            Is.EqualTo("nothing listens at unix:///nowhere/w.sock"),
            "an unreachable worker under the HTTP stack's exception is still found");
    }

    private static async Task<string> AssertNotAWorkerAsync(string address)
    {
        await using var client = WorkerClient.Create(address, new WorkerClientOptions { Connection = { ManageAttempts = 1 } });
        var heartbeat = Assert.ThrowsAsync<WorkerTransportException>(async () => await client.HeartbeatAsync().DefaultTimeout())!;

        await using var session = await client.OpenSessionAsync().DefaultTimeout();
        var init = Assert.ThrowsAsync<WorkerTransportException>(async () => await session.InitAsync(new SessionInit("x"u8.ToArray(), "echo")).DefaultTimeout())!;

        foreach (var message in new[] { heartbeat.Message, init.Message })
        {
            Assert.That(message, Does.Contain(Expected).And.Contain("Check the address and port"));
            Assert.That(message, Does.Not.Contain("disposed"));
        }

        return heartbeat.Message;
    }

    /// <summary>A TCP server that answers every connection with fixed bytes, then closes it.</summary>
    private sealed class RawServer : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        private RawServer(string answer)
        {
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            var bytes = Encoding.UTF8.GetBytes(answer);
            _loop = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    TcpClient connection;
                    try
                    {
                        connection = await _listener.AcceptTcpClientAsync(_stop.Token);
                    }
                    catch (Exception) when (_stop.IsCancellationRequested)
                    {
                        return;
                    }

                    _ = Task.Run(async () =>
                    {
                        using (connection)
                        {
                            try
                            {
                                var stream = connection.GetStream();
                                await stream.WriteAsync(bytes, _stop.Token);
                                var buffer = new byte[4096];
                                _ = await stream.ReadAsync(buffer, _stop.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
                            }
                            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or TimeoutException)
                            {
                            }
                        }
                    });
                }
            });
        }

        public string Address => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

        public static RawServer Start(string answer) => new(answer);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _loop.DefaultTimeout();
            _stop.Dispose();
        }
    }
}
