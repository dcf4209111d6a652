using System.Threading.Channels;
using Engine.Client.Protocol;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>
/// A real gRPC server (Kestrel, HTTP/2) on a Unix domain socket whose Execute calls run a script on
/// the server's own threads: requests and responses cross a real socket, across threads.
/// </summary>
public sealed class SocketWorkerHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _directory;

    private SocketWorkerHost(WebApplication app, string directory, WorkerAddress address)
    {
        _app = app;
        _directory = directory;
        Address = address;
    }

    public WorkerAddress Address { get; }

    internal ScriptRegistry Registry => _app.Services.GetRequiredService<ScriptRegistry>();

    /// <summary>Starts on a Unix domain socket, or on TCP loopback when <paramref name="tcp"/> is set.</summary>
    public static async Task<SocketWorkerHost> StartAsync(ScriptRegistry registry, bool tcp = false)
    {
        var directory = Directory.CreateTempSubdirectory("ec-").FullName;
        var socketPath = Path.Combine(directory, "w.sock");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.WebHost.ConfigureKestrel(k =>
        {
            if (tcp)
            {
                k.Listen(System.Net.IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2);
            }
            else
            {
                k.ListenUnixSocket(socketPath, o => o.Protocols = HttpProtocols.Http2);
            }

            k.Limits.Http2.MaxStreamsPerConnection = 1000;
        });
        builder.Services.AddSingleton(registry);
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = null;
            o.MaxSendMessageSize = null;
            o.EnableDetailedErrors = true;
        });
        var app = builder.Build();
        app.MapGrpcService<ScriptService>();
        await app.StartAsync().DefaultTimeout();
        var address = tcp
            ? WorkerAddress.Parse(app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
                .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.Single())
            : WorkerAddress.ForUnixSocket(socketPath);
        return new SocketWorkerHost(app, directory, address);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await _app.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private sealed class ScriptService(ScriptRegistry registry) : UdfWorker.UdfWorkerBase
    {
        public override async Task Execute(IAsyncStreamReader<UdfRequest> requestStream, IServerStreamWriter<UdfResponse> responseStream, ServerCallContext context)
        {
            var stream = new SocketStream(requestStream, responseStream, context);
            registry.OnCall(stream);
            var script = registry.Script();
            try
            {
                await script(stream);
            }
            catch (StreamAbortedException)
            {
                // The engine aborted the call; nothing to answer.
            }
            finally
            {
                stream.HandlerEnded();
            }
        }

        public override Task<WorkerResponse> Manage(WorkerRequest request, ServerCallContext context) =>
            registry.Manage?.Invoke(request) ?? throw new RpcException(new Status(StatusCode.Unimplemented, "no Manage handler"));
    }

    /// <summary>A pump records every request at once; the script reads from its queue.</summary>
    private sealed class SocketStream : ScriptedStream
    {
        private readonly Channel<UdfRequest?> _requests = Channel.CreateUnbounded<UdfRequest?>();
        private readonly IServerStreamWriter<UdfResponse> _responses;
        private readonly SemaphoreSlim _writeLock = new(1, 1);
        private volatile bool _handlerEnded;

        public SocketStream(IAsyncStreamReader<UdfRequest> requests, IServerStreamWriter<UdfResponse> responses, ServerCallContext context)
        {
            _responses = responses;
            _ = PumpAsync(requests, context);
        }

        public void HandlerEnded() => _handlerEnded = true;

        private async Task PumpAsync(IAsyncStreamReader<UdfRequest> requests, ServerCallContext context)
        {
            try
            {
                while (await requests.MoveNext(context.CancellationToken))
                {
                    Record(requests.Current);
                    _requests.Writer.TryWrite(requests.Current);
                }

                MarkHalfClosed();
                _requests.Writer.TryWrite(null);
            }
            catch (Exception ex)
            {
                if (!_handlerEnded)
                {
                    MarkAborted();
                }

                _requests.Writer.TryComplete(new StreamAbortedException("The engine aborted the stream.", ex));
            }
        }

        public override async ValueTask<UdfRequest?> ReadAsync()
        {
            try
            {
                return await _requests.Reader.ReadAsync();
            }
            catch (ChannelClosedException ex)
            {
                throw new StreamAbortedException("The engine aborted the stream.", ex);
            }
        }

        public override async Task WriteAsync(UdfResponse response)
        {
            await _writeLock.WaitAsync();
            try
            {
                await _responses.WriteAsync(response);
            }
            catch (Exception ex) when (ex is not StreamAbortedException)
            {
                throw new StreamAbortedException("Writing to the engine failed.", ex);
            }
            finally
            {
                _writeLock.Release();
            }
        }
    }
}
