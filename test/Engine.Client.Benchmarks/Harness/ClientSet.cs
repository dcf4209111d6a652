using System.Net.Sockets;
using Engine.Client.Transport;
using Grpc.Net.Client;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>The three clients compared against one worker.</summary>
public enum Variant
{
    /// <summary>The SDK: <see cref="WorkerClient.Create(string, WorkerClientOptions?)"/> and a session.</summary>
    Sdk,

    /// <summary>The hand-written loop over a channel built exactly as the SDK builds its own (same handler settings).</summary>
    HandSdkTransport,

    /// <summary>The hand-written loop over <see cref="GrpcChannel.ForAddress(string, GrpcChannelOptions)"/> with Grpc.Net.Client's defaults.</summary>
    HandGrpcDefaults,

    /// <summary>The SDK with pooled output (<see cref="SessionOptions.PooledOutput"/>, each batch disposed once read); the one-session memory run only.</summary>
    SdkPooled,
}

/// <summary>
/// The clients of one comparison, each with its own long-lived channel to the same worker:
/// the SDK with <see cref="SdkOptions"/>, the hand-written loop on a channel with the very same
/// settings, and the hand-written loop on a channel with Grpc.Net.Client's defaults (message limits
/// raised only as far as the batch size needs).
/// </summary>
public sealed class ClientSet : IDisposable
{
    /// <summary>What the reference worker accepts by default; the benchmark tells the SDK.</summary>
    public const int WorkerMessageLimit = 128 * 1024 * 1024;

    private ClientSet(WorkerClient sdk, GrpcChannel handSdkTransport, GrpcChannel handGrpcDefaults)
    {
        Sdk = sdk;
        HandSdkTransport = handSdkTransport;
        HandGrpcDefaults = handGrpcDefaults;
    }

    public WorkerClient Sdk { get; }

    public GrpcChannel HandSdkTransport { get; }

    public GrpcChannel HandGrpcDefaults { get; }

    /// <summary>The SDK's options as an engine would set them for this worker: defaults, plus the worker's message limit.</summary>
    public static WorkerClientOptions SdkOptions(Action<WorkerClientOptions>? adjust = null)
    {
        var options = new WorkerClientOptions { Connection = { MaxSendMessageSize = WorkerMessageLimit } };
        adjust?.Invoke(options);
        return options;
    }

    public static ClientSet Create(ReferenceWorker worker, int batchSize, Action<WorkerClientOptions>? adjust = null)
    {
        var options = SdkOptions(adjust);
        var sdk = WorkerClient.Create(worker.Address, options);
        var same = WorkerChannelFactory.Create(WorkerAddress.Parse(worker.Address), sdk.Options);
        return new ClientSet(sdk, same, GrpcDefaultsChannel(worker, batchSize));
    }

    /// <summary>
    /// A channel with Grpc.Net.Client's defaults: a plain <see cref="SocketsHttpHandler"/> (with a
    /// Unix socket connect callback when needed), default windows and buffers, and the default
    /// 4 MiB receive limit raised only when a batch would not fit.
    /// </summary>
    public static GrpcChannel GrpcDefaultsChannel(ReferenceWorker worker, int batchSize)
    {
        var options = new GrpcChannelOptions();
        if (batchSize + 64 > 4 * 1024 * 1024)
        {
            options.MaxReceiveMessageSize = WorkerMessageLimit;
        }

        if (worker.SocketPath is { } path)
        {
            options.HttpHandler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
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
                },
            };
            return GrpcChannel.ForAddress("http://localhost", options);
        }

        return GrpcChannel.ForAddress(worker.Address, options);
    }

    public void Dispose()
    {
        Sdk.Dispose();
        HandSdkTransport.Dispose();
        HandGrpcDefaults.Dispose();
    }
}
