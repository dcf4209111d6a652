using System.Net;
using System.Net.Sockets;
using System.Text;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Transport;

namespace Engine.Client.Tests.Transport;

/// <summary>Worker addresses, channel settings and what an unreachable worker looks like.</summary>
public sealed class TransportTests
{
    [TestCase("unix:///tmp/w.sock", WorkerTransport.UnixDomainSocket, "unix:///tmp/w.sock")]
    [TestCase("unix:/tmp/w.sock", WorkerTransport.UnixDomainSocket, "unix:///tmp/w.sock")]
    [TestCase("  unix:///tmp/w.sock ", WorkerTransport.UnixDomainSocket, "unix:///tmp/w.sock")]
    [TestCase("http://127.0.0.1:5000", WorkerTransport.Tcp, "http://127.0.0.1:5000")]
    [TestCase("http://localhost:80", WorkerTransport.Tcp, "http://localhost:80")]
    [TestCase("http://[::1]:7000/", WorkerTransport.Tcp, "http://[::1]:7000")]
    [TestCase("https://workers.example:7070", WorkerTransport.Tcp, "https://workers.example:7070")]
    [TestCase("HTTPS://10.0.0.7:443", WorkerTransport.Tcp, "https://10.0.0.7:443")]
    public void Parses_worker_addresses(string text, WorkerTransport transport, string canonical)
    {
        var address = WorkerAddress.Parse(text);

        Assert.That(address.Transport, Is.EqualTo(transport));
        Assert.That(address.ToString(), Is.EqualTo(canonical));
        Assert.That(WorkerAddress.Parse(canonical), Is.EqualTo(address));
    }

    [Test]
    public void Parses_a_unix_address() => Assert.That(WorkerAddress.Parse("unix:///tmp/x.sock").SocketPath, Is.EqualTo("/tmp/x.sock"));

    [TestCase("", "is empty")]
    [TestCase("unix://relative.sock", "does not name an absolute socket path")]
    [TestCase("unix:", "does not name an absolute socket path")]
    [TestCase("tcp://host:1", "unknown scheme")]
    [TestCase("https://host", "has no port")]
    [TestCase("https://host:1/path", "path, query or fragment")]
    [TestCase("http://host", "has no port")]
    [TestCase("http://host:1/path", "path, query or fragment")]
    [TestCase("http://:1", "not a valid http URI")]
    public void Rejects_malformed_addresses_saying_why_and_what_is_accepted(string text, string why)
    {
        var error = Assert.Throws<FormatException>(() => WorkerAddress.Parse(text));

        Assert.That(error!.Message, Does.Contain(why));
        Assert.That(error.Message, Does.Contain("unix:///").Or.Contain("http://host:port").Or.Contain("https://host:port"));
    }

    [Test]
    public void Rejects_a_socket_path_longer_than_Linux_allows()
    {
        var path = "/tmp/" + new string('x', 120) + ".sock";

        var error = Assert.Throws<FormatException>(() => WorkerAddress.Parse("unix://" + path));

        Assert.That(error!.Message, Does.Contain("at most 107"));
        Assert.Throws<ArgumentException>(() => WorkerAddress.ForUnixSocket(path));
    }

    [Test]
    public void WorkerClient_rejects_a_malformed_address_with_a_clear_error() =>
        Assert.That(() => WorkerClient.Create("localhost:5000"), Throws.TypeOf<FormatException>().With.Message.Contains("unknown scheme"));

    [Test]
    public void The_channel_sets_limits_explicitly_and_sends_no_keepalive_pings_by_default()
    {
        var options = new WorkerClientOptions();
        using var handler = WorkerChannelFactory.CreateHandler(WorkerAddress.Parse("unix:///tmp/x.sock"), options);

        Assert.Multiple(() =>
        {
            Assert.That(options.Connection.MaxReceiveMessageSize, Is.EqualTo(128 * 1024 * 1024));
            Assert.That(options.Connection.MaxSendMessageSize, Is.EqualTo(4 * 1024 * 1024));
            Assert.That(handler.KeepAlivePingPolicy, Is.EqualTo(HttpKeepAlivePingPolicy.WithActiveRequests));
            Assert.That(handler.KeepAlivePingDelay, Is.EqualTo(Timeout.InfiniteTimeSpan));
            Assert.That(handler.ConnectCallback, Is.Not.Null);
            Assert.That(handler.EnableMultipleHttp2Connections, Is.True);
            Assert.That(handler.PooledConnectionIdleTimeout, Is.EqualTo(Timeout.InfiniteTimeSpan));
        });
    }

    [Test]
    public void A_keepalive_delay_is_passed_to_the_handler_and_one_below_1_s_is_rejected_naming_the_setting()
    {
        var address = WorkerAddress.Parse("unix:///tmp/x.sock");
        using var handler = WorkerChannelFactory.CreateHandler(address, new WorkerClientOptions { Connection = { KeepAlivePingDelay = WorkerConnectionOptions.MinKeepAlivePingDelay } });

        Assert.That(handler.KeepAlivePingDelay, Is.EqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(
            () => new WorkerClientOptions { Connection = { KeepAlivePingDelay = TimeSpan.FromMilliseconds(999) } }.Validate(),
            Throws.ArgumentException.With.Message.Contains("KeepAlivePingDelay").And.Message.Contains("at least 1 s"));
        Assert.That(() => new WorkerClientOptions { Connection = { KeepAlivePingDelay = Timeout.InfiniteTimeSpan } }.Validate(), Throws.Nothing);
    }

    public static IEnumerable<TestCaseData> ConnectionEnds()
    {
        var goAway = new HttpProtocolException(0xb, "The HTTP/2 server closed the connection. HTTP/2 error code 'ENHANCE_YOUR_CALM' (0xb).", null);
        yield return new TestCaseData(new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.ResourceExhausted, "Error reading next message.", goAway)), true).SetName("GOAWAY ENHANCE_YOUR_CALM");
        yield return new TestCaseData(new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, "Too many pings")), true).SetName("Unavailable Too many pings");
        yield return new TestCaseData(new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, "Connection reset by peer")), false).SetName("Unavailable for another reason");
        yield return new TestCaseData(new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.ResourceExhausted, "Received message larger than max")), false).SetName("ResourceExhausted for a message size");
    }

    [TestCaseSource(nameof(ConnectionEnds))]
    public void A_connection_closed_for_too_many_pings_says_so_and_names_the_keepalive_setting(Exception cause, bool tooManyPings)
    {
        var error = new WorkerTransportException("unix:///tmp/w.sock", TransportFailureReason.Rpc, "the Execute stream failed", null, cause);

        Assert.That(error.Message.Contains("too many keepalive pings", StringComparison.Ordinal), Is.EqualTo(tooManyPings), error.Message);
        Assert.That(error.Message, Does.StartWith("the Execute stream failed: gRPC status"));
    }

    [Test]
    public void The_channel_opens_a_4_MiB_stream_window_by_default_and_null_keeps_the_runtime_default()
    {
        var address = WorkerAddress.Parse("unix:///tmp/x.sock");
        using var tuned = WorkerChannelFactory.CreateHandler(address, new WorkerClientOptions());
        using var runtime = WorkerChannelFactory.CreateHandler(address, new WorkerClientOptions { Connection = { Http2InitialStreamWindowSize = null } });
        using var plain = new SocketsHttpHandler();

        Assert.Multiple(() =>
        {
            Assert.That(tuned.InitialHttp2StreamWindowSize, Is.EqualTo(4 * 1024 * 1024));
            Assert.That(runtime.InitialHttp2StreamWindowSize, Is.EqualTo(plain.InitialHttp2StreamWindowSize));
        });
    }

    [TestCase(nameof(WorkerConnectionOptions.MaxSendMessageSize))]
    [TestCase(nameof(WorkerClientOptions.HeartbeatTimeout))]
    [TestCase(nameof(WorkerConnectionOptions.ManageAttempts))]
    public void Invalid_options_are_rejected_when_the_client_is_built_naming_the_setting(string setting)
    {
        var options = new WorkerClientOptions();
        switch (setting)
        {
            case nameof(WorkerConnectionOptions.MaxSendMessageSize):
                options.Connection.MaxSendMessageSize = 10;
                break;
            case nameof(WorkerClientOptions.HeartbeatTimeout):
                options.HeartbeatTimeout = TimeSpan.Zero;
                break;
            default:
                options.Connection.ManageAttempts = 0;
                break;
        }

        var error = Assert.Throws<ArgumentException>(() => WorkerClient.Create("unix:///tmp/x.sock", options));

        Assert.That(error!.Message, Does.Contain(setting));
    }

    [Test]
    public void Session_options_are_checked_against_the_message_limit()
    {
        var options = new WorkerClientOptions { Session = new SessionOptions { PayloadChunkSize = 8 * 1024 * 1024 } };

        var error = Assert.Throws<ArgumentException>(() => WorkerClient.Create("unix:///tmp/x.sock", options));

        Assert.That(error!.Message, Does.Contain("PayloadChunkSize").And.Contain("Use at most"));
    }

    [Test]
    public async Task A_session_on_a_missing_socket_fails_init_at_once_as_unreachable_naming_the_path()
    {
        var path = $"/tmp/ec-missing-{Guid.NewGuid():N}.sock";
        using var client = WorkerClient.Create("unix://" + path);
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => session.InitAsync(new SessionInit(Encoding.UTF8.GetBytes("p"), "f")).DefaultTimeout());
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.Unreachable));
        Assert.That(error.Message, Does.Contain($"no socket file exists at {path}"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
    }

    [Test]
    public void A_heartbeat_to_a_missing_socket_fails_as_unreachable()
    {
        var path = $"/tmp/ec-missing-{Guid.NewGuid():N}.sock";
        using var client = WorkerClient.Create("unix://" + path);

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync().DefaultTimeout());

        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.Unreachable));
        Assert.That(error.Message, Does.Contain("no socket file exists").And.Contain("heartbeat"));
    }

    [Test]
    public void A_socket_file_nobody_listens_on_is_reported_as_refused()
    {
        var directory = Directory.CreateTempSubdirectory("ec-");
        var path = Path.Combine(directory.FullName, "w.sock");
        try
        {
            // Bound but never listening: the file exists, connecting is refused.
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Bind(new UnixDomainSocketEndPoint(path));
            Assert.That(File.Exists(path), Is.True);

            using var client = WorkerClient.Create("unix://" + path);
            var error = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync().DefaultTimeout());

            Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.Unreachable));
            Assert.That(error.Message, Does.Contain("nothing listens at unix://" + path));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Test]
    public void A_tcp_port_nobody_listens_on_is_reported_as_refused()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        using var client = WorkerClient.Create($"http://127.0.0.1:{port}");
        var error = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync().DefaultTimeout());

        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.Unreachable));
        Assert.That(error.Message, Does.Contain($"nothing listens at http://127.0.0.1:{port} (connection refused)"));
    }

    [Test]
    public async Task Disposing_the_client_fails_open_sessions_as_transport_failures()
    {
        await using var host = await ScriptHost.StartAsync(HostKind.UnixSocket);
        host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.InitOk());
            await stream.IgnoreEverythingAsync();
        });
        var client = WorkerClient.Create(host.Address!);
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(new SessionInit(Encoding.UTF8.GetBytes("p"), "f")).DefaultTimeout();

        client.Dispose();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(async () => await client.OpenSessionAsync(), Throws.TypeOf<ObjectDisposedException>());
    }
}
