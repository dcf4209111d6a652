using System.Threading.Channels;
using Engine.Client.Protocol;
using Engine.Client.Transport;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>Where a scripted worker runs.</summary>
public enum HostKind
{
    /// <summary>In-process, re-entrant delivery on the writing thread.</summary>
    InProcess,

    /// <summary>Real gRPC over a Unix domain socket, across threads.</summary>
    UnixSocket,

    /// <summary>Real gRPC over TCP loopback, across threads.</summary>
    Tcp,
}

/// <summary>The script in effect and the calls made, shared by both hosts.</summary>
public sealed class ScriptRegistry
{
    private readonly Channel<ScriptedStream> _calls = Channel.CreateUnbounded<ScriptedStream>();

    public WorkerScript Current { get; set; } = _ => Task.CompletedTask;

    public Func<WorkerRequest, Task<WorkerResponse>>? Manage { get; set; }

    public WorkerScript Script() => Current;

    public void OnCall(ScriptedStream stream) => _calls.Writer.TryWrite(stream);

    public Task<ScriptedStream> NextCallAsync() => _calls.Reader.ReadAsync().AsTask().DefaultTimeout();

    public bool TryGetCall(out ScriptedStream? stream) => _calls.Reader.TryRead(out stream);

    /// <summary>Forgets calls of earlier tests.</summary>
    public void Reset()
    {
        while (_calls.Reader.TryRead(out _))
        {
        }

        Manage = null;
    }
}

/// <summary>
/// Runs scripted workers either in-process (re-entrant) or behind a real socket, so every session
/// scenario runs against both.
/// </summary>
public sealed class ScriptHost : IAsyncDisposable
{
    private readonly SocketWorkerHost? _socket;
    private readonly List<GrpcChannel> _channels = [];

    private ScriptHost(HostKind kind, ScriptRegistry registry, SocketWorkerHost? socket)
    {
        Kind = kind;
        Registry = registry;
        _socket = socket;
    }

    public HostKind Kind { get; }

    /// <summary>The socket host's address; <see langword="null"/> in-process.</summary>
    public WorkerAddress? Address => _socket?.Address;

    public ScriptRegistry Registry { get; }

    /// <summary>
    /// The logger factory given to clients whose options keep the default (no logging);
    /// <see langword="null"/> leaves them as they are.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    public static async Task<ScriptHost> StartAsync(HostKind kind)
    {
        var registry = new ScriptRegistry();
        var socket = kind == HostKind.InProcess ? null : await SocketWorkerHost.StartAsync(registry, tcp: kind == HostKind.Tcp);
        return new ScriptHost(kind, registry, socket);
    }

    /// <summary>Sets the script for the next calls.</summary>
    public void Use(WorkerScript script) => Registry.Current = script;

    public Task<ScriptedStream> NextCallAsync() => Registry.NextCallAsync();

    /// <summary>A client to the scripted worker; <paramref name="wrap"/> may decorate the call invoker.</summary>
    public WorkerClient CreateClient(WorkerClientOptions? options = null, Func<CallInvoker, CallInvoker>? wrap = null)
    {
        options ??= new WorkerClientOptions();
        if (LoggerFactory is not null && ReferenceEquals(options.LoggerFactory, NullLoggerFactory.Instance))
        {
            options.LoggerFactory = LoggerFactory;
        }
        CallInvoker invoker;
        string name;
        if (_socket is null)
        {
            invoker = new InProcessWorker(Registry.Script, Registry.OnCall, request => Registry.Manage?.Invoke(request) ?? throw new RpcException(new Status(StatusCode.Unimplemented, "no Manage handler")));
            name = "in-process";
        }
        else
        {
            var channel = WorkerChannelFactory.Create(_socket.Address, options);
            lock (_channels)
            {
                _channels.Add(channel);
            }

            invoker = channel.CreateCallInvoker();
            name = _socket.Address.ToString();
        }

        return WorkerClient.Create(wrap is null ? invoker : wrap(invoker), name, options);
    }

    public async ValueTask DisposeAsync()
    {
        lock (_channels)
        {
            foreach (var channel in _channels)
            {
                channel.Dispose();
            }
        }

        if (_socket is not null)
        {
            await _socket.DisposeAsync();
        }
    }
}
