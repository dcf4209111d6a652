using System.Diagnostics;
using System.Threading.Channels;
using Engine.Client.Protocol;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>Median time of each phase of a short session, in microseconds.</summary>
public sealed record PhaseTimes(string Name, double InitMicros, double EchoMicros, double FinishMicros, double CloseMicros)
{
    public double TotalMicros => InitMicros + EchoMicros + FinishMicros + CloseMicros;
}

/// <summary>
/// Where a short session's time goes: Init (until the InitResponse is in the caller's hands), the
/// echoed batch, the FinishResponse, and the close (half-close until the stream's end), for the SDK
/// and the hand-written loop alternately.
/// </summary>
public static class SessionPhases
{
    private static readonly ReadOnlyMemory<byte> EchoPayload = "echo"u8.ToArray();

    public static async Task<(PhaseTimes Sdk, PhaseTimes Hand)> RunAsync(WorkerClient sdk, GrpcChannel channel, int sessions)
    {
        var (sdkTimes, handTimes, _) = await RunCoreAsync(sdk, channel, sessions, shapes: false, blocks: false, handDelay: TimeSpan.Zero).ConfigureAwait(false);
        return (sdkTimes, handTimes);
    }

    /// <summary>
    /// <see cref="RunAsync"/> plus the hand-written loop in each concurrency shape of
    /// <see cref="HandShape"/>: all alternating session by session, or with <paramref name="blocks"/>
    /// each client's sessions one after the other (so that a session follows one of its own client,
    /// as in the load mode). <paramref name="handDelay"/> is a busy wait in the hand-written
    /// session between its InitResponse and its batch's write (zero: none).
    /// </summary>
    public static async Task<PhaseTimes[]> RunWithShapesAsync(WorkerClient sdk, GrpcChannel channel, int sessions, bool blocks = false, TimeSpan handDelay = default)
    {
        var (sdkTimes, handTimes, shapes) = await RunCoreAsync(sdk, channel, sessions, shapes: true, blocks, handDelay).ConfigureAwait(false);
        return [sdkTimes, handTimes, .. shapes];
    }

    private static async Task<(PhaseTimes Sdk, PhaseTimes Hand, PhaseTimes[] Shapes)> RunCoreAsync(WorkerClient sdk, GrpcChannel channel, int sessions, bool shapes, bool blocks, TimeSpan handDelay)
    {
        var batch = ThroughputSuite.NewBatch(1024);
        var sdkTimes = new List<double[]>();
        var handTimes = new List<double[]>();
        var shapeTimes = Enum.GetValues<HandShape>().ToDictionary(shape => shape, _ => new List<double[]>());
        var delayTicks = (long)(handDelay.TotalSeconds * Stopwatch.Frequency);
        var clients = new List<Func<Task>>
        {
            async () => sdkTimes.Add(await SdkAsync(sdk, batch).ConfigureAwait(false)),
            async () => handTimes.Add(await HandAsync(channel, batch, delayTicks).ConfigureAwait(false)),
        };
        if (shapes)
        {
            clients.AddRange(shapeTimes.Select(pair => (Func<Task>)(async () => pair.Value.Add(await HandShapedAsync(channel, batch, pair.Key).ConfigureAwait(false)))));
        }

        if (blocks)
        {
            foreach (var client in clients)
            {
                for (var i = 0; i < sessions; i++)
                {
                    await client().ConfigureAwait(false);
                }
            }
        }
        else
        {
            for (var i = 0; i < sessions; i++)
            {
                foreach (var client in clients)
                {
                    await client().ConfigureAwait(false);
                }
            }
        }

        return (
            Summarize("sdk", sdkTimes),
            Summarize("hand-written", handTimes),
            shapes ? [.. shapeTimes.Select(pair => Summarize(ShapeName(pair.Key), pair.Value))] : []);
    }

    private static string ShapeName(HandShape shape) => shape switch
    {
        HandShape.ReadIssued => "hand, read issued",
        HandShape.ReadAwaited => "hand, read awaited",
        HandShape.ReaderLoop => "hand, reader loop",
        HandShape.ReaderFromInit => "hand, reader+Init",
        HandShape.WriterLoop => "hand, writer loop",
        _ => throw new ArgumentOutOfRangeException(nameof(shape), shape, null),
    };

    private static PhaseTimes Summarize(string name, List<double[]> times) => new(
        name,
        Stats.Median(times.Select(t => t[0])),
        Stats.Median(times.Select(t => t[1])),
        Stats.Median(times.Select(t => t[2])),
        Stats.Median(times.Select(t => t[3])));

    private static async Task<double[]> SdkAsync(WorkerClient client, ReadOnlyMemory<byte> batch)
    {
        var marks = new long[5];
        marks[0] = Stopwatch.GetTimestamp();
        await using var session = await client.OpenSessionAsync();
        await session.InitAsync(new SessionInit(EchoPayload, "echo")).ConfigureAwait(false);
        marks[1] = Stopwatch.GetTimestamp();
        var first = true;
        await foreach (var _ in session.ProcessAsync(new RepeatedInput(batch, 1)).ConfigureAwait(false))
        {
            if (first)
            {
                marks[2] = Stopwatch.GetTimestamp();
                first = false;
            }
        }

        marks[3] = Stopwatch.GetTimestamp();
        var outcome = await session.CloseAsync().ConfigureAwait(false);
        marks[4] = Stopwatch.GetTimestamp();
        if (outcome.Kind != SessionOutcomeKind.Finished)
        {
            throw new InvalidOperationException($"The SDK session ended {outcome.Kind}.");
        }

        return Durations(marks);
    }

    private static async Task<double[]> HandAsync(GrpcChannel channel, ReadOnlyMemory<byte> batch, long delayTicks)
    {
        var marks = new long[5];
        marks[0] = Stopwatch.GetTimestamp();
        using var call = new UdfWorker.UdfWorkerClient(channel).Execute();
        var requests = call.RequestStream;
        var responses = call.ResponseStream;
        await requests.WriteAsync(EchoLoops.EchoInit()).ConfigureAwait(false);
        await responses.MoveNext(CancellationToken.None).ConfigureAwait(false);
        marks[1] = Stopwatch.GetTimestamp();
        if (delayTicks > 0)
        {
            // A busy wait, not a sleep: the thread stays on its CPU, as code of that length would.
            var until = marks[1] + delayTicks;
            while (Stopwatch.GetTimestamp() < until)
            {
            }
        }

        await requests.WriteAsync(UdfRequests.Data(batch)).ConfigureAwait(false);
        await requests.WriteAsync(UdfRequests.Finish()).ConfigureAwait(false);
        await responses.MoveNext(CancellationToken.None).ConfigureAwait(false);
        marks[2] = Stopwatch.GetTimestamp();
        await responses.MoveNext(CancellationToken.None).ConfigureAwait(false);
        marks[3] = Stopwatch.GetTimestamp();
        await requests.CompleteAsync().ConfigureAwait(false);
        while (await responses.MoveNext(CancellationToken.None).ConfigureAwait(false))
        {
        }

        marks[4] = Stopwatch.GetTimestamp();
        return Durations(marks);
    }

    /// <summary>
    /// The hand-written session of <see cref="HandAsync"/> (same messages, same channel, none of the
    /// SDK's code) with the next response's read started before the batch and Finish are written,
    /// as an engine that reads output while it sends input must; the shapes differ in who waits for
    /// the read and, for <see cref="HandShape.WriterLoop"/>, in who writes.
    /// </summary>
    private static async Task<double[]> HandShapedAsync(GrpcChannel channel, ReadOnlyMemory<byte> batch, HandShape shape)
    {
        var marks = new long[5];
        marks[0] = Stopwatch.GetTimestamp();
        using var call = new UdfWorker.UdfWorkerClient(channel).Execute();
        var requests = call.RequestStream;
        var responses = call.ResponseStream;
        Task<bool> echoed;
        Task reading = Task.CompletedTask;
        TaskCompletionSource<bool>? finished = null;
        if (shape == HandShape.WriterLoop)
        {
            return await HandWithWriterLoopAsync(requests, responses, batch, marks).ConfigureAwait(false);
        }

        if (shape == HandShape.ReaderFromInit)
        {
            var initDone = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var echo = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            finished = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            reading = ReaderLoopAsync(responses, [initDone, echo, finished]);
            await requests.WriteAsync(EchoLoops.EchoInit()).ConfigureAwait(false);
            await initDone.Task.ConfigureAwait(false);
            marks[1] = Stopwatch.GetTimestamp();
            echoed = echo.Task;
        }
        else
        {
            await requests.WriteAsync(EchoLoops.EchoInit()).ConfigureAwait(false);
            await responses.MoveNext(CancellationToken.None).ConfigureAwait(false);
            marks[1] = Stopwatch.GetTimestamp();
            switch (shape)
            {
                case HandShape.ReadIssued:
                    echoed = responses.MoveNext(CancellationToken.None);
                    break;
                case HandShape.ReadAwaited:
                    echoed = AwaitedAsync(responses.MoveNext(CancellationToken.None));
                    break;
                default:
                    var first = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                    finished = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                    echoed = first.Task;
                    reading = ReaderLoopAsync(responses, [first, finished]);
                    break;
            }
        }

        await requests.WriteAsync(UdfRequests.Data(batch)).ConfigureAwait(false);
        await requests.WriteAsync(UdfRequests.Finish()).ConfigureAwait(false);
        await echoed.ConfigureAwait(false);
        marks[2] = Stopwatch.GetTimestamp();
        if (finished is null)
        {
            await responses.MoveNext(CancellationToken.None).ConfigureAwait(false);
        }
        else
        {
            await finished.Task.ConfigureAwait(false);
        }

        marks[3] = Stopwatch.GetTimestamp();
        await requests.CompleteAsync().ConfigureAwait(false);
        if (finished is null)
        {
            while (await responses.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
            }
        }
        else
        {
            await reading.ConfigureAwait(false);
        }

        marks[4] = Stopwatch.GetTimestamp();
        return Durations(marks);

        static async Task<bool> AwaitedAsync(Task<bool> read) => await read.ConfigureAwait(false);

        // Each response, in order, completes the next of the tasks the session waits on.
        static async Task ReaderLoopAsync(IAsyncStreamReader<UdfResponse> responses, TaskCompletionSource<bool>[] handedOver)
        {
            var count = 0;
            while (await responses.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
                handedOver[Math.Min(count++, handedOver.Length - 1)].TrySetResult(true);
            }
        }
    }

    /// <summary>
    /// <see cref="HandShape.WriterLoop"/>: a reader loop from before Init (the InitResponse handed over
    /// through a task, every later response through a bounded queue that ends at the
    /// FinishResponse) and a writer loop that writes what the session queues to it.
    /// </summary>
    private static async Task<double[]> HandWithWriterLoopAsync(IClientStreamWriter<UdfRequest> requests, IAsyncStreamReader<UdfResponse> responses, ReadOnlyMemory<byte> batch, long[] marks)
    {
        var initAnswered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = Channel.CreateBounded<UdfResponse>(new BoundedChannelOptions(16) { SingleReader = true, SingleWriter = true });
        var outbound = Channel.CreateBounded<UdfRequest>(new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = false });
        var reading = ReadAllAsync(responses, initAnswered, output.Writer);
        var writing = WriteAllAsync(requests, outbound.Reader);
        await requests.WriteAsync(EchoLoops.EchoInit()).ConfigureAwait(false);
        await initAnswered.Task.ConfigureAwait(false);
        marks[1] = Stopwatch.GetTimestamp();
        outbound.Writer.TryWrite(UdfRequests.Data(batch));
        outbound.Writer.TryWrite(UdfRequests.Finish());
        await output.Reader.WaitToReadAsync().ConfigureAwait(false);
        output.Reader.TryRead(out _);
        marks[2] = Stopwatch.GetTimestamp();
        while (await output.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            output.Reader.TryRead(out _);
        }

        marks[3] = Stopwatch.GetTimestamp();
        outbound.Writer.TryComplete();
        await writing.ConfigureAwait(false);
        await requests.CompleteAsync().ConfigureAwait(false);
        await reading.ConfigureAwait(false);
        marks[4] = Stopwatch.GetTimestamp();
        return Durations(marks);

        static async Task ReadAllAsync(IAsyncStreamReader<UdfResponse> responses, TaskCompletionSource initAnswered, ChannelWriter<UdfResponse> output)
        {
            var first = true;
            while (await responses.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
                if (first)
                {
                    first = false;
                    initAnswered.TrySetResult();
                    continue;
                }

                output.TryWrite(responses.Current);
                if (responses.Current.Control?.Finish is not null)
                {
                    output.TryComplete();
                }
            }

            output.TryComplete();
        }

        static async Task WriteAllAsync(IClientStreamWriter<UdfRequest> requests, ChannelReader<UdfRequest> queue)
        {
            await foreach (var request in queue.ReadAllAsync().ConfigureAwait(false))
            {
                await requests.WriteAsync(request).ConfigureAwait(false);
            }
        }
    }

    private static double[] Durations(long[] marks)
    {
        var result = new double[marks.Length - 1];
        for (var i = 1; i < marks.Length; i++)
        {
            result[i - 1] = Stopwatch.GetElapsedTime(marks[i - 1], marks[i]).TotalMicroseconds;
        }

        return result;
    }
}

/// <summary>Who waits for the read that is started before the hand-written session writes.</summary>
public enum HandShape
{
    /// <summary>Nobody until both writes are done: then the session's flow awaits it.</summary>
    ReadIssued,

    /// <summary>An await from the start, in a method of its own that the flow awaits after the writes.</summary>
    ReadAwaited,

    /// <summary>A loop of its own reads every response and hands it to the flow through a task.</summary>
    ReaderLoop,

    /// <summary>As <see cref="ReaderLoop"/>, with the loop started before Init, so it also hands over the InitResponse (the SDK's reader).</summary>
    ReaderFromInit,

    /// <summary>As <see cref="ReaderFromInit"/>, with the output through a bounded queue, and the batch and Finish written by a loop of their own that the session queues them to (the SDK's writer until it moved its writes to the producing flow; docs/performance.md).</summary>
    WriterLoop,
}
