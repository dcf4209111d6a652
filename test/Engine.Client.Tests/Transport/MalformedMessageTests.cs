using System.Buffers.Binary;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Transport;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace Engine.Client.Tests.Transport;

/// <summary>
/// A worker that answers with bytes that are not a valid protobuf message broke the protocol: the
/// engine says so (a protocol violation, never retried), instead of the gRPC status
/// Grpc.Net.Client makes up for a deserializer failure (Unavailable, which callers retry). The
/// worker is a real HTTP/2 server on a Unix socket writing gRPC frames by hand.
/// </summary>
[TestFixture]
public sealed class MalformedMessageTests
{
    /// <summary>Field 1, length-delimited, claiming 100 bytes of which none follow.</summary>
    private static readonly byte[] Garbage = [0x0A, 0x64, 0xFF];

    private WebApplication _app = null!;
    private string _directory = null!;
    private WorkerAddress _address = null!;
    private int _manageCalls;
    private byte[][] _executeFrames = [Garbage];

    [OneTimeSetUp]
    public async Task Start()
    {
        _directory = Directory.CreateTempSubdirectory("ec-raw-").FullName;
        var socket = Path.Combine(_directory, "w.sock");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(socket, o => o.Protocols = HttpProtocols.Http2));
        _app = builder.Build();
        _app.MapPost("/org.apache.spark.udf.worker.UdfWorker/Manage", async context =>
        {
            Interlocked.Increment(ref _manageCalls);
            await AnswerAsync(context, [Garbage], awaitRequestEnd: false);
        });
        _app.MapPost("/org.apache.spark.udf.worker.UdfWorker/Execute", context => AnswerAsync(context, _executeFrames, awaitRequestEnd: true));
        await _app.StartAsync().DefaultTimeout();
        _address = WorkerAddress.ForUnixSocket(socket);
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await _app.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private static async Task AnswerAsync(HttpContext context, byte[][] messages, bool awaitRequestEnd)
    {
        context.Response.ContentType = "application/grpc";
        foreach (var message in messages)
        {
            var frame = new byte[5 + message.Length];
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)message.Length);
            message.CopyTo(frame, 5);
            await context.Response.Body.WriteAsync(frame);
            await context.Response.Body.FlushAsync();
        }

        if (awaitRequestEnd)
        {
            // Hold the call open until the engine ends it (Cancel, then the half-close or an abort).
            try
            {
                await context.Request.Body.CopyToAsync(Stream.Null, context.RequestAborted);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                return;
            }
        }

        context.Response.AppendTrailer("grpc-status", "0");
    }

    private WorkerClient Client() => WorkerClient.Create(_address, new WorkerClientOptions { Connection = { ManageAttempts = 3 } });

    [Test]
    public async Task An_Execute_response_that_is_not_a_protobuf_message_fails_the_session_as_a_protocol_violation()
    {
        _executeFrames = [Garbage];
        using var client = Client();
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());

        var error = Assert.ThrowsAsync<WorkerTransportException>(
            () => session.InitAsync(new SessionInit(new byte[] { 1 }, "echo")).DefaultTimeout());
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.ProtocolViolation));
        Assert.That(error.Message, Does.Contain("not a valid UdfResponse message"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
    }

    [Test]
    public async Task An_invalid_message_after_a_valid_InitResponse_fails_the_session_as_a_protocol_violation()
    {
        var init = new Engine.Client.Protocol.UdfResponse
        {
            Control = new Engine.Client.Protocol.UdfControlResponse { Init = new Engine.Client.Protocol.InitResponse() },
        }.ToByteArray();
        _executeFrames = [init, Garbage];
        using var client = Client();
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());

        try
        {
            await session.InitAsync(new SessionInit(new byte[] { 1 }, "echo")).DefaultTimeout();
        }
        catch (WorkerTransportException)
        {
            // Init may or may not have returned before the second message was read.
        }

        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        var error = (WorkerTransportException)outcome.Exception!;
        Assert.That(error.Reason, Is.EqualTo(TransportFailureReason.ProtocolViolation));
        Assert.That(error.Message, Does.Contain("not a valid UdfResponse message"));
    }

    [Test]
    public void A_Manage_response_that_is_not_a_protobuf_message_is_a_protocol_violation_and_is_not_retried()
    {
        using var client = Client();
        var before = Volatile.Read(ref _manageCalls);

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync(TimeSpan.FromMinutes(1)).DefaultTimeout());

        Assert.That(error!.Reason, Is.EqualTo(TransportFailureReason.ProtocolViolation));
        Assert.That(error.Message, Does.Contain("not a valid WorkerResponse message"));
        Assert.That(Volatile.Read(ref _manageCalls) - before, Is.EqualTo(1), "a protocol violation is not retried");
    }
}
