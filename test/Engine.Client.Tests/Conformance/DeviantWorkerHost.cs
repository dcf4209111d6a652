using System.Threading.Channels;
using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Engine.Client.Tests.Conformance;

/// <summary>
/// A real gRPC server (Kestrel, HTTP/2) on a Unix domain socket serving a <see cref="DeviantWorker"/>.
/// Each Execute call reads its requests on a pump that the handler stops and awaits before it
/// returns: a read left pending after the handler ended could collide with the next call that
/// reuses the HTTP/2 stream, and the kit opens many calls in quick succession.
/// </summary>
public sealed class DeviantWorkerHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _directory;

    private DeviantWorkerHost(WebApplication app, string directory, WorkerAddress address)
    {
        _app = app;
        _directory = directory;
        Address = address;
    }

    public WorkerAddress Address { get; }

    public static async Task<DeviantWorkerHost> StartAsync(DeviantWorker worker)
    {
        var directory = Directory.CreateTempSubdirectory("ec-kit-").FullName;
        var socketPath = Path.Combine(directory, "w.sock");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ListenUnixSocket(socketPath, o =>
            {
                o.Protocols = HttpProtocols.Http2;
                if (worker.Breaks == "keepalive-pings")
                {
                    // Deviation keepalive-pings: a ping policy as strict as gRPC core's default.
                    o.Use(PingLimit.Middleware);
                }
            });
            k.Limits.Http2.MaxStreamsPerConnection = 1000;
        });
        builder.Services.AddSingleton(worker);
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = null;
            o.MaxSendMessageSize = null;
        });
        var app = builder.Build();
        app.MapGrpcService<Service>();
        await app.StartAsync().DefaultTimeout();
        return new DeviantWorkerHost(app, directory, WorkerAddress.ForUnixSocket(socketPath));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await _app.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private sealed class Service(DeviantWorker worker) : UdfWorker.UdfWorkerBase
    {
        public override async Task Execute(IAsyncStreamReader<UdfRequest> requestStream, IServerStreamWriter<UdfResponse> responseStream, ServerCallContext context)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
            var stream = new WireStream(responseStream, context.CancellationToken);
            var pump = stream.PumpAsync(requestStream, stop.Token);
            try
            {
                await worker.RunAsync(stream);
            }
            catch (StreamAbortedException)
            {
                // The engine aborted the call; nothing to answer.
            }
            finally
            {
                await stop.CancelAsync();
                await pump;
            }
        }

        public override Task<WorkerResponse> Manage(WorkerRequest request, ServerCallContext context) => worker.ManageAsync(request);
    }
}

/// <summary>The worker's side of one Execute call of <see cref="DeviantWorkerHost"/>.</summary>
public sealed class WireStream
{
    private readonly Channel<UdfRequest?> _requests = Channel.CreateUnbounded<UdfRequest?>();
    private readonly IServerStreamWriter<UdfResponse> _responses;
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    internal WireStream(IServerStreamWriter<UdfResponse> responses, CancellationToken callAborted)
    {
        _responses = responses;
        CallAborted = callAborted;
    }

    /// <summary>Cancelled as soon as the engine aborts the call (RST_STREAM), before this side's handler notices.</summary>
    public CancellationToken CallAborted { get; }

    /// <summary>The next request, or <see langword="null"/> when the engine half-closed. Throws <see cref="StreamAbortedException"/> when the call broke.</summary>
    public async ValueTask<UdfRequest?> ReadAsync()
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

    public async Task WriteAsync(UdfResponse response)
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

    /// <summary>Reads until a request matching <paramref name="match"/>; null when the engine half-closed first.</summary>
    public async Task<UdfRequest?> ReadUntilAsync(Func<UdfRequest, bool> match)
    {
        while (await ReadAsync() is { } request)
        {
            if (match(request))
            {
                return request;
            }
        }

        return null;
    }

    /// <summary>Reads and ignores everything until the engine half-closes or aborts.</summary>
    public async Task IgnoreEverythingAsync()
    {
        while (await ReadAsync() is not null)
        {
        }
    }

    internal async Task PumpAsync(IAsyncStreamReader<UdfRequest> requests, CancellationToken stop)
    {
        try
        {
            while (await requests.MoveNext(stop))
            {
                _requests.Writer.TryWrite(requests.Current);
            }

            _requests.Writer.TryWrite(null);
            _requests.Writer.TryComplete();
        }
        catch (Exception ex)
        {
            _requests.Writer.TryComplete(new StreamAbortedException("The engine aborted the stream.", ex));
        }
    }
}
