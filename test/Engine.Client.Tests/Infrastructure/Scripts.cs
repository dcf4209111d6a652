using Engine.Client.Protocol;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>Building blocks for scripted workers.</summary>
public static class Scripts
{
    /// <summary>Reads Init and, when chunking, its chunks; returns the Init and the assembled payload.</summary>
    public static async Task<(Init Init, byte[] Payload)> ReadInitAsync(ScriptedStream stream)
    {
        var first = await stream.ReadAsync() ?? throw new InvalidOperationException("The engine half-closed before Init.");
        if (!ScriptedStream.IsInit(first))
        {
            throw new InvalidOperationException($"Expected Init first, got {ScriptedStream.Describe(first)}.");
        }

        var init = first.Control.Init;
        var payload = new List<byte>(init.Udf.Payload.ToByteArray());
        if (init.IsChunkingPayload)
        {
            while (true)
            {
                var next = await stream.ReadAsync() ?? throw new InvalidOperationException("The engine half-closed during chunking.");
                if (!ScriptedStream.IsChunk(next))
                {
                    throw new InvalidOperationException($"Expected a chunk, got {ScriptedStream.Describe(next)}.");
                }

                payload.AddRange(next.Control.Payload.Data.ToByteArray());
                if (next.Control.Payload.Last)
                {
                    break;
                }
            }
        }

        return (init, payload.ToArray());
    }

    /// <summary>A well-behaved echo worker: Init, echo each batch, answer Finish and Cancel.</summary>
    public static WorkerScript Echo => async stream =>
    {
        var (init, _) = await ReadInitAsync(stream);
        await stream.WriteAsync(init.HasParameters ? Responses.InitOk(init.Parameters) : Responses.InitOk());
        await EchoLoopAsync(stream);
    };

    /// <summary>Echo data; answer Finish with FinishResponse and Cancel with CancelResponse.</summary>
    public static async Task EchoLoopAsync(ScriptedStream stream, bool answerFinish = true, bool answerCancel = true)
    {
        ulong batchesIn = 0;
        while (await stream.ReadAsync() is { } request)
        {
            if (ScriptedStream.IsData(request))
            {
                batchesIn++;
                await stream.WriteAsync(Responses.Data(request.Data.Data));
            }
            else if (ScriptedStream.IsFinish(request) && answerFinish)
            {
                await stream.WriteAsync(Responses.Finish(metrics: new ExecutionMetrics { BatchesIn = batchesIn }));
                await AwaitHalfCloseAsync(stream);
                return;
            }
            else if (ScriptedStream.IsCancel(request))
            {
                if (answerCancel)
                {
                    await stream.WriteAsync(Responses.Cancel());
                    await AwaitHalfCloseAsync(stream);
                    return;
                }
            }
        }
    }

    /// <summary>After its terminator, a worker waits for the engine's half-close (docs/protocol.md rule 9 lets a Cancel follow Finish).</summary>
    public static async Task AwaitHalfCloseAsync(ScriptedStream stream)
    {
        while (await stream.ReadAsync() is not null)
        {
        }
    }

    /// <summary>Waits for the engine's Cancel, then answers CancelResponse.</summary>
    public static async Task AnswerCancelAsync(ScriptedStream stream, ExecutionError? error = null)
    {
        await stream.ReadUntilAsync(ScriptedStream.IsCancel);
        await stream.WriteAsync(Responses.Cancel(error));
    }
}
