using Engine.Client.Protocol;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>
/// Bytes and batches that came back from one echo session, and the worker's own account of the
/// time it spent waiting to receive and to send (ExecutionMetrics): send time is where HTTP/2 flow
/// control holds the worker back.
/// </summary>
public readonly record struct EchoTotals(long Bytes, long Batches, ulong WorkerReceiveWallNanos = 0, ulong WorkerSendWallNanos = 0)
{
    public EchoTotals With(ExecutionMetrics? metrics) => metrics is null ? this : this with
    {
        WorkerReceiveWallNanos = metrics.ReceiveWallNanos,
        WorkerSendWallNanos = metrics.SendWallNanos,
    };
}

/// <summary>
/// The two ways to stream batches through the reference worker's <c>echo</c> UDF that the harness
/// compares: the SDK's bytes-level session, and the minimal hand-written Grpc.Net.Client loop an
/// engine would write without it. Both send the same buffer <c>count</c> times and check that
/// every byte came back.
/// </summary>
public static class EchoLoops
{
    private static readonly ReadOnlyMemory<byte> EchoPayload = "echo"u8.ToArray();

    /// <summary>One SDK session: Init, ProcessAsync over the batches, CloseAsync.</summary>
    public static async Task<EchoTotals> SdkAsync(WorkerClient client, ReadOnlyMemory<byte> batch, long count, CancellationToken cancellationToken = default)
    {
        await using var session = await client.OpenSessionAsync(cancellationToken: cancellationToken);
        await session.InitAsync(new SessionInit(EchoPayload, "echo"), cancellationToken).ConfigureAwait(false);
        long bytes = 0, batches = 0;
        await foreach (var output in session.ProcessAsync(new RepeatedInput(batch, count), cancellationToken).ConfigureAwait(false))
        {
            bytes += output.Length;
            batches++;
        }

        var outcome = await session.CloseAsync(cancellationToken).ConfigureAwait(false);
        if (outcome.Kind != SessionOutcomeKind.Finished)
        {
            throw new InvalidOperationException($"The SDK session ended {outcome.Kind}: {outcome.Exception?.Message}");
        }

        return Check(new EchoTotals(bytes, batches).With(outcome.Metrics), batch.Length, count);
    }

    /// <summary>One SDK session with pooled output: Init, ProcessPooledAsync over the batches (each disposed once counted), CloseAsync.</summary>
    public static async Task<EchoTotals> SdkPooledAsync(WorkerClient client, ReadOnlyMemory<byte> batch, long count, CancellationToken cancellationToken = default)
    {
        await using var session = await client.OpenSessionAsync(PooledOptions, cancellationToken);
        await session.InitAsync(new SessionInit(EchoPayload, "echo"), cancellationToken).ConfigureAwait(false);
        long bytes = 0, batches = 0;
        await foreach (var output in session.ProcessPooledAsync(new RepeatedInput(batch, count), null, cancellationToken).ConfigureAwait(false))
        {
            bytes += output.Length;
            batches++;
            output.Dispose();
        }

        var outcome = await session.CloseAsync(cancellationToken).ConfigureAwait(false);
        if (outcome.Kind != SessionOutcomeKind.Finished)
        {
            throw new InvalidOperationException($"The SDK session ended {outcome.Kind}: {outcome.Exception?.Message}");
        }

        return Check(new EchoTotals(bytes, batches).With(outcome.Metrics), batch.Length, count);
    }

    /// <summary>One short session through the SDK with pooled output.</summary>
    public static async Task SdkPooledShortAsync(WorkerClient client, ReadOnlyMemory<byte> batch, CancellationToken cancellationToken = default)
    {
        var totals = await SdkPooledAsync(client, batch, 1, cancellationToken).ConfigureAwait(false);
        if (totals.Batches != 1)
        {
            throw new InvalidOperationException("The worker did not echo the batch.");
        }
    }

    private static SessionOptions PooledOptions => new() { PooledOutput = true };

    /// <summary>
    /// The hand-written loop on the raw generated client: write Init and wait for the
    /// InitResponse; one task writes the DataRequests then Finish while another reads the
    /// DataResponses up to the FinishResponse; then half-close and read the stream's end.
    /// </summary>
    public static async Task<EchoTotals> HandWrittenAsync(GrpcChannel channel, ReadOnlyMemory<byte> batch, long count, CancellationToken cancellationToken = default)
    {
        var client = new UdfWorker.UdfWorkerClient(channel);
        using var call = client.Execute(cancellationToken: cancellationToken);
        await call.RequestStream.WriteAsync(EchoInit(), cancellationToken).ConfigureAwait(false);
        if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false)
            || call.ResponseStream.Current.Control?.Init is not { } initResponse
            || initResponse.Error is not null)
        {
            throw new InvalidOperationException("The worker did not accept Init.");
        }

        var writer = Task.Run(
            async () =>
            {
                for (long i = 0; i < count; i++)
                {
                    await call.RequestStream.WriteAsync(UdfRequests.Data(batch), cancellationToken).ConfigureAwait(false);
                }

                await call.RequestStream.WriteAsync(UdfRequests.Finish(), cancellationToken).ConfigureAwait(false);
            },
            cancellationToken);

        var reader = Task.Run(
            async () =>
            {
                long bytes = 0, batches = 0;
                ExecutionMetrics? metrics = null;
                var finished = false;
                while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
                {
                    var response = call.ResponseStream.Current;
                    if (response.ResponseCase == UdfResponse.ResponseOneofCase.Data)
                    {
                        bytes += response.Data.Data.Length;
                        batches++;
                    }
                    else if (response.Control?.Finish is { } finish)
                    {
                        metrics = finish.Metrics;
                        finished = true;
                        break;
                    }
                    else
                    {
                        throw new InvalidOperationException($"Unexpected response {response.ResponseCase}/{response.Control?.ControlCase}.");
                    }
                }

                if (!finished)
                {
                    throw new InvalidOperationException("The stream ended without a FinishResponse.");
                }

                return new EchoTotals(bytes, batches).With(metrics);
            },
            cancellationToken);

        var totals = await reader.ConfigureAwait(false);
        await writer.ConfigureAwait(false);
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        while (await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
        }

        return Check(totals, batch.Length, count);
    }

    /// <summary>
    /// One short session the hand-written way, sequentially: Init, InitResponse, one batch, Finish,
    /// the echoed batch, FinishResponse, half-close, end of stream.
    /// </summary>
    public static async Task HandWrittenShortAsync(GrpcChannel channel, ReadOnlyMemory<byte> batch, CancellationToken cancellationToken = default)
    {
        var client = new UdfWorker.UdfWorkerClient(channel);
        using var call = client.Execute(cancellationToken: cancellationToken);
        var requests = call.RequestStream;
        var responses = call.ResponseStream;
        await requests.WriteAsync(EchoInit(), cancellationToken).ConfigureAwait(false);
        if (!await responses.MoveNext(cancellationToken).ConfigureAwait(false) || responses.Current.Control?.Init is not { Error: null })
        {
            throw new InvalidOperationException("The worker did not accept Init.");
        }

        await requests.WriteAsync(UdfRequests.Data(batch), cancellationToken).ConfigureAwait(false);
        await requests.WriteAsync(UdfRequests.Finish(), cancellationToken).ConfigureAwait(false);
        if (!await responses.MoveNext(cancellationToken).ConfigureAwait(false) || responses.Current.Data?.Data.Length != batch.Length)
        {
            throw new InvalidOperationException("The worker did not echo the batch.");
        }

        if (!await responses.MoveNext(cancellationToken).ConfigureAwait(false) || responses.Current.Control?.Finish is null)
        {
            throw new InvalidOperationException("The worker did not answer Finish.");
        }

        await requests.CompleteAsync().ConfigureAwait(false);
        while (await responses.MoveNext(cancellationToken).ConfigureAwait(false))
        {
        }
    }

    /// <summary>One short session through the SDK: Init, one batch, Finish, outcome.</summary>
    public static async Task SdkShortAsync(WorkerClient client, ReadOnlyMemory<byte> batch, CancellationToken cancellationToken = default)
    {
        var totals = await SdkAsync(client, batch, 1, cancellationToken).ConfigureAwait(false);
        if (totals.Batches != 1)
        {
            throw new InvalidOperationException("The worker did not echo the batch.");
        }
    }

    /// <summary>The echo UDF's Init envelope, shared with <see cref="SessionPhases"/>.</summary>
    internal static UdfRequest EchoInit() => UdfRequests.Init(new Init
    {
        ProtocolVersion = SessionInit.CurrentProtocolVersion,
        DataFormat = UDFWorkerDataFormat.Arrow,
        Udf = new UdfPayload { Format = "echo", Payload = UnsafeByteOperations.UnsafeWrap(EchoPayload) },
    });

    private static EchoTotals Check(EchoTotals totals, int batchLength, long count)
    {
        if (totals.Batches != count || totals.Bytes != batchLength * count)
        {
            throw new InvalidOperationException($"Echo lost data: sent {count} batches of {batchLength} bytes, got {totals.Batches} batches, {totals.Bytes} bytes.");
        }

        return totals;
    }
}

/// <summary>The same batch <c>count</c> times, synchronously and without allocating per item.</summary>
public sealed class RepeatedInput(ReadOnlyMemory<byte> batch, long count) : IAsyncEnumerable<ReadOnlyMemory<byte>>
{
    public IAsyncEnumerator<ReadOnlyMemory<byte>> GetAsyncEnumerator(CancellationToken cancellationToken = default) => new Enumerator(batch, count);

    private sealed class Enumerator(ReadOnlyMemory<byte> batch, long count) : IAsyncEnumerator<ReadOnlyMemory<byte>>
    {
        private long _left = count;

        public ReadOnlyMemory<byte> Current => batch;

        public ValueTask<bool> MoveNextAsync() => ValueTask.FromResult(_left-- > 0);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
