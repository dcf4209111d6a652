using System.Text;
using Engine.Client.Protocol;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>A scripted worker: reads the engine's requests and writes responses, in any order it likes.</summary>
public delegate Task WorkerScript(ScriptedStream stream);

/// <summary>The engine aborted the stream (RST_STREAM / call disposed) while the script waited.</summary>
public sealed class StreamAbortedException : Exception
{
    public StreamAbortedException()
        : base("The engine aborted the stream.")
    {
    }

    public StreamAbortedException(string message)
        : base(message)
    {
    }

    public StreamAbortedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>
/// The worker's side of one Execute stream, the same for both hosts. Every request the engine sends
/// is recorded in arrival order, whether or not the script reads it.
/// </summary>
public abstract class ScriptedStream
{
    private readonly Lock _gate = new();
    private readonly List<UdfRequest> _received = [];
    private readonly List<(Func<IReadOnlyList<UdfRequest>, bool> Condition, TaskCompletionSource Done)> _waiters = [];
    private readonly TaskCompletionSource _aborted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _halfClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Everything the engine sent, in order.</summary>
    public IReadOnlyList<UdfRequest> Received
    {
        get
        {
            lock (_gate)
            {
                return [.. _received];
            }
        }
    }

    /// <summary>The wire as text, for example <c>Init, Data, Finish, Cancel</c>.</summary>
    public string Wire => string.Join(", ", Received.Select(Describe));

    /// <summary>Completes when the engine half-closed its request stream.</summary>
    public Task HalfClosed => _halfClosed.Task;

    /// <summary>Completes when the engine aborted the call.</summary>
    public Task Aborted => _aborted.Task;

    public bool WasHalfClosed => _halfClosed.Task.IsCompleted;

    /// <summary>The next request, or <see langword="null"/> when the engine half-closed. Throws <see cref="StreamAbortedException"/> when aborted.</summary>
    public abstract ValueTask<UdfRequest?> ReadAsync();

    /// <summary>Sends a response to the engine.</summary>
    public abstract Task WriteAsync(UdfResponse response);

    /// <summary>Completes once the recorded requests satisfy <paramref name="condition"/>.</summary>
    public Task WaitForAsync(Func<IReadOnlyList<UdfRequest>, bool> condition)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (condition(_received))
            {
                return Task.CompletedTask;
            }

            _waiters.Add((condition, done));
        }

        return done.Task;
    }

    /// <summary>Completes once a Cancel was received.</summary>
    public Task CancelReceived => WaitForAsync(r => r.Any(IsCancel));

    /// <summary>Reads until a request matching <paramref name="match"/>; null when the stream half-closed first.</summary>
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
        try
        {
            while (await ReadAsync() is not null)
            {
            }

            // Half-closed: keep the call open until the engine aborts it.
            await Aborted;
        }
        catch (StreamAbortedException)
        {
        }
    }

    protected void Record(UdfRequest request)
    {
        List<TaskCompletionSource> ready = [];
        lock (_gate)
        {
            _received.Add(request);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Condition(_received))
                {
                    ready.Add(_waiters[i].Done);
                    _waiters.RemoveAt(i);
                }
            }
        }

        foreach (var done in ready)
        {
            done.TrySetResult();
        }
    }

    protected void MarkHalfClosed() => _halfClosed.TrySetResult();

    protected void MarkAborted() => _aborted.TrySetResult();

    public static bool IsInit(UdfRequest r) => r.Control?.ControlCase == UdfControlRequest.ControlOneofCase.Init;

    public static bool IsChunk(UdfRequest r) => r.Control?.ControlCase == UdfControlRequest.ControlOneofCase.Payload;

    public static bool IsData(UdfRequest r) => r.RequestCase == UdfRequest.RequestOneofCase.Data;

    public static bool IsFinish(UdfRequest r) => r.Control?.ControlCase == UdfControlRequest.ControlOneofCase.Finish;

    public static bool IsCancel(UdfRequest r) => r.Control?.ControlCase == UdfControlRequest.ControlOneofCase.Cancel;

    /// <summary>The shared name of the message (<see cref="WireText.Name(UdfRequest)"/>), data and chunks shortened for compact transcripts.</summary>
    public static string Describe(UdfRequest r) => WireText.Name(r) switch
    {
        "DataRequest" => "Data",
        "PayloadChunk" => "Chunk",
        var name => name,
    };

    public static string Text(UdfRequest r) => Encoding.UTF8.GetString(r.Data.Data.Span);
}
