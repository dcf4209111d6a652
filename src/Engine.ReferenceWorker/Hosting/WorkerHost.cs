using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Engine.ReferenceWorker.Execution;
using Engine.ReferenceWorker.Management;
using Engine.ReferenceWorker.Udfs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Engine.ReferenceWorker.Hosting;

/// <summary>
/// Builds and runs the worker's gRPC server: HTTP/2 without TLS (h2c) on a Unix domain socket or
/// on TCP (loopback unless <c>--listen-address</c>), HTTP/2 over TLS on TCP with
/// <c>--tls-certificate</c>, stderr logging, a short shutdown, and the parent-process watch.
/// </summary>
internal static class WorkerHost
{
    /// <summary>Bound on the host's stop: streams are cancelled at once, so this only caps a stuck one.</summary>
    private static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(3);

    /// <summary>Runs until SIGTERM, a Manage Shutdown or the parent's death. Returns the exit code.</summary>
    public static async Task<int> RunAsync(WorkerArguments arguments)
    {
        var tls = ServerTls.Load(arguments, out var tlsError);
        if (tlsError is not null)
        {
            await Console.Error.WriteLineAsync("Engine.ReferenceWorker: " + tlsError).ConfigureAwait(false);
            return 1;
        }

        string? ipv6Problem = null;
        var ipv6 = arguments.Connection.Port is not null && arguments.ListenAddress is null && Ipv6LoopbackAvailable(out ipv6Problem);
        var app = Build(arguments, ipv6, tls);
        await using (app.ConfigureAwait(false))
        {
            return await RunAsync(app, arguments, ipv6Problem).ConfigureAwait(false);
        }
    }

    private static async Task<int> RunAsync(WebApplication app, WorkerArguments arguments, string? ipv6Problem)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Engine.ReferenceWorker");
        if (ipv6Problem is not null)
        {
            // The specification asks for both loopbacks; a machine without IPv6 still gets a worker.
            WorkerLog.Ipv6Unavailable(logger, ipv6Problem);
        }

        var socketPath = arguments.Connection.SocketPath;
        if (socketPath is not null && !PrepareSocketPath(socketPath, logger, out var socketError))
        {
            await Console.Error.WriteLineAsync("Engine.ReferenceWorker: " + socketError).ConfigureAwait(false);
            return 1;
        }

        try
        {
            await app.StartAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or InvalidOperationException)
        {
            await Console.Error.WriteLineAsync($"Engine.ReferenceWorker: cannot listen on {arguments.Connection}: {ex.Message}").ConfigureAwait(false);
            return 1;
        }

        // For people and scripts only: the engine's readiness signal is a connection or a heartbeat.
        await Console.Out.WriteLineAsync(string.Create(
            CultureInfo.InvariantCulture,
            $"ready id={arguments.Id} connection={arguments.Connection} pid={Environment.ProcessId}")).ConfigureAwait(false);
        await Console.Out.FlushAsync().ConfigureAwait(false);

        try
        {
            await app.WaitForShutdownAsync().ConfigureAwait(false);
        }
        finally
        {
            if (socketPath is not null)
            {
                TryDelete(socketPath);
            }
        }

        return 0;
    }

    private static WebApplication Build(WorkerArguments arguments, bool ipv6, ServerTls? tls)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            // The worker's own arguments are not configuration. Config file watching is off: it
            // costs start-up time and an inotify instance per process, and many workers may run.
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });

        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(arguments.Verbose ? LogLevel.Debug : LogLevel.Warning);

        // The framework's per-request lines would drown the worker's own; its warnings still show.
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", arguments.Verbose ? LogLevel.Information : LogLevel.Warning);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;

            // Streams live as long as the engine's session; they must never be cut for being idle or slow.
            kestrel.Limits.MaxRequestBodySize = null;
            kestrel.Limits.MinRequestBodyDataRate = null;
            kestrel.Limits.MinResponseDataRate = null;
            kestrel.Limits.Http2.MaxStreamsPerConnection = 1000;
            kestrel.Limits.Http2.InitialConnectionWindowSize = arguments.Http2ConnectionWindow;
            kestrel.Limits.Http2.InitialStreamWindowSize = arguments.Http2StreamWindow;
            kestrel.Limits.Http2.MaxFrameSize = arguments.Http2MaxFrameSize;

            var connection = arguments.Connection;
            if (connection.SocketPath is { } path)
            {
                kestrel.ListenUnixSocket(path, l => l.Protocols = HttpProtocols.Http2);
            }
            else
            {
                var port = connection.Port!.Value;
                void Configure(ListenOptions listen)
                {
                    listen.Protocols = HttpProtocols.Http2;
                    if (tls is not null)
                    {
                        listen.UseHttps(tls.ToKestrel());
                    }
                }

                kestrel.Listen(arguments.ListenAddress ?? IPAddress.Loopback, port, Configure);
                if (ipv6)
                {
                    kestrel.Listen(IPAddress.IPv6Loopback, port, Configure);
                }
            }
        });

        builder.Services
            .AddGrpc()
            .AddServiceOptions<UdfWorkerService>(o =>
            {
                // Set explicitly: the gRPC default receive limit is 4 MiB and batches may be larger.
                o.MaxReceiveMessageSize = arguments.MaxMessageSize;
                o.MaxSendMessageSize = arguments.MaxMessageSize;
            });

        builder.Services.AddSingleton(new WorkerIdentity(arguments.Id, arguments.EchoAuthorization));
        builder.Services.AddSingleton(new ExecuteSettings(arguments.TerminatorGrace, arguments.OutputBufferBytes, arguments.BatchDelay));
        builder.Services.AddSingleton(UdfRegistry.CreateDefault());
        builder.Services.AddSingleton<WorkerStats>();
        builder.Services.AddSingleton<StreamRegistry>();
        builder.Services.AddSingleton<WorkerLifetime>();
        builder.Services.AddSingleton<ManageHandler>();
        if (arguments.Fault != ProcessFault.IgnoreParentDeath)
        {
            builder.Services.AddHostedService<ParentProcessWatcher>();
        }

        var app = builder.Build();
        app.MapGrpcService<UdfWorkerService>();

        // Created now so its stop hook is registered before anything can stop the host.
        app.Services.GetRequiredService<WorkerLifetime>();
        return app;
    }

    /// <summary>
    /// Removes a stale socket file (left by a worker that died) so binding succeeds, but refuses to
    /// take over a path where a server still answers.
    /// </summary>
    private static bool PrepareSocketPath(string path, ILogger logger, out string? error)
    {
        error = null;
        if (!File.Exists(path))
        {
            var directory = Path.GetDirectoryName(path);
            if (directory is not null && !Directory.Exists(directory))
            {
                error = $"the socket's directory {directory} does not exist";
                return false;
            }

            return true;
        }

        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                error = $"another server is already listening on {path}";
                return false;
            }
            catch (SocketException)
            {
                // Nobody listens: the file is stale.
            }
        }

        try
        {
            File.Delete(path);
            WorkerLog.StaleSocketRemoved(logger, path);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error = $"cannot remove the stale socket file {path}: {ex.Message}";
            return false;
        }
    }

    private static bool Ipv6LoopbackAvailable(out string? problem)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
            problem = null;
            return true;
        }
        catch (SocketException ex)
        {
            problem = ex.Message;
            return false;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: the next worker on this path removes a stale file anyway.
        }
    }
}
