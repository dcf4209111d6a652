using System.Diagnostics;
using Engine.Client.Cli.Operations;

namespace Engine.Client.Cli.Output;

/// <summary>
/// Progress of a long run on stderr (never stdout): once the run has lasted one interval, a line
/// per interval with the stage and the batches (and rows) each way.
/// </summary>
internal sealed class ProgressReporter : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private ProgressReporter(RunState state, TextWriter error, TimeSpan interval)
    {
        _loop = RunAsync(state, error, interval, _stop.Token);
    }

    public static ProgressReporter Start(RunState state, TextWriter error, TimeSpan interval) => new(state, error, interval);

    /// <summary>One progress line.</summary>
    public static string Describe(RunState state, TimeSpan elapsed)
    {
        var text = $"engine-client: {Formats.Seconds(elapsed)}, {state.Stage}";
        if (state.Session is { } session)
        {
            var d = session.Diagnostics;
            text += $"; sent {Formats.Traffic(d.BatchesSent, state.CountsRows ? state.RowsSent : null, d.BytesSent)}"
                + $"; received {Formats.Traffic(d.BatchesReceived, state.CountsRows ? state.RowsReceived : null, d.BytesReceived, state.CountsRows ? state.BatchesRead : null)}";
        }

        return text;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }

    private static async Task RunAsync(RunState state, TextWriter error, TimeSpan interval, CancellationToken stop)
    {
        var started = Stopwatch.GetTimestamp();
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                await error.WriteLineAsync(Describe(state, Stopwatch.GetElapsedTime(started)));
                await error.FlushAsync(stop);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
    }
}
