using System.Diagnostics;
using Engine.Client.Protocol;
using Google.Protobuf;
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
        var (sdkTimes, handTimes, _) = await RunCoreAsync(sdk, channel, sessions, shapes: false).ConfigureAwait(false);
        return (sdkTimes, handTimes);
    }

    /// <summary>
    /// <see cref="RunAsync"/> plus the hand-written loop with a read pending while it writes, and in
    /// the SDK's shape (<see cref="HandConcurrentAsync"/>), the four alternating session by session.
    /// </summary>
    public static async Task<PhaseTimes[]> RunWithShapesAsync(WorkerClient sdk, GrpcChannel channel, int sessions)
    {
        var (sdkTimes, handTimes, shapes) = await RunCoreAsync(sdk, channel, sessions, shapes: true).ConfigureAwait(false);
        return [sdkTimes, handTimes, .. shapes];
    }

    private static async Task<(PhaseTimes Sdk, PhaseTimes Hand, PhaseTimes[] Shapes)> RunCoreAsync(WorkerClient sdk, GrpcChannel channel, int sessions, bool shapes)
    {
        var batch = ThroughputSuite.NewBatch(1024);
        var sdkTimes = new List<double[]>();
        var handTimes = new List<double[]>();
        var pendingTimes = new List<double[]>();
        var shapedTimes = new List<double[]>();
        for (var i = 0; i < sessions; i++)
        {
            sdkTimes.Add(await SdkAsync(sdk, batch).ConfigureAwait(false));
            handTimes.Add(await HandAsync(channel, batch).ConfigureAwait(false));
            if (shapes)
            {
                pendingTimes.Add(await HandConcurrentAsync(channel, batch, writesInTask: false).ConfigureAwait(false));
                shapedTimes.Add(await HandConcurrentAsync(channel, batch, writesInTask: true).ConfigureAwait(false));
            }
        }

        return (
            Summarize("sdk", sdkTimes),
            Summarize("hand-written", handTimes),
            shapes ? [Summarize("hand, read pending", pendingTimes), Summarize("hand, SDK shape", shapedTimes)] : []);
    }

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

    private static async Task<double[]> HandAsync(GrpcChannel channel, ReadOnlyMemory<byte> batch)
    {
        var marks = new long[5];
        marks[0] = Stopwatch.GetTimestamp();
        using var call = new UdfWorker.UdfWorkerClient(channel).Execute();
        var requests = call.RequestStream;
        var responses = call.ResponseStream;
        await requests.WriteAsync(EchoLoops.EchoInit()).ConfigureAwait(false);
        await responses.MoveNext(CancellationToken.None).ConfigureAwait(false);
        marks[1] = Stopwatch.GetTimestamp();
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
    /// The hand-written session with the concurrency of a duplex engine and none of the SDK's code:
    /// the next response is already being read while the batch and Finish are written (the SDK's
    /// read loop always has a read pending, as any engine must that reads output while it sends
    /// input); with <paramref name="writesInTask"/>, the two writes also run in a task of their own
    /// that the session's flow awaits (the SDK's write loop). Same messages, same channel.
    /// </summary>
    private static async Task<double[]> HandConcurrentAsync(GrpcChannel channel, ReadOnlyMemory<byte> batch, bool writesInTask)
    {
        var marks = new long[5];
        marks[0] = Stopwatch.GetTimestamp();
        using var call = new UdfWorker.UdfWorkerClient(channel).Execute();
        var requests = call.RequestStream;
        var responses = call.ResponseStream;
        await requests.WriteAsync(EchoLoops.EchoInit()).ConfigureAwait(false);
        await responses.MoveNext(CancellationToken.None).ConfigureAwait(false);
        marks[1] = Stopwatch.GetTimestamp();
        var echoed = responses.MoveNext(CancellationToken.None);
        if (writesInTask)
        {
            await Task.Run(async () =>
            {
                await requests.WriteAsync(UdfRequests.Data(batch)).ConfigureAwait(false);
                await requests.WriteAsync(UdfRequests.Finish()).ConfigureAwait(false);
            }).ConfigureAwait(false);
        }
        else
        {
            await requests.WriteAsync(UdfRequests.Data(batch)).ConfigureAwait(false);
            await requests.WriteAsync(UdfRequests.Finish()).ConfigureAwait(false);
        }

        await echoed.ConfigureAwait(false);
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
