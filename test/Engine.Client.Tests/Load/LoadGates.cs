using Engine.Client.Load;
using HdrHistogram;

namespace Engine.Client.Tests.Load;

/// <summary>An interval observer that opens gates: after so many finished sessions, after so many more intervals.</summary>
internal sealed class LoadGates : ILoadObserver
{
    private readonly Lock _gate = new();
    private readonly List<(long Finished, TaskCompletionSource Done)> _finished = [];
    private readonly List<(int Index, TaskCompletionSource Done)> _intervals = [];
    private long _totalFinished;
    private int _count;

    public List<LoadInterval> Seen { get; } = [];

    /// <summary>Opens once at least <paramref name="finished"/> measured sessions finished.</summary>
    public Task FinishedAtLeast(long finished)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_totalFinished >= finished)
            {
                return Task.CompletedTask;
            }

            _finished.Add((finished, done));
        }

        return done.Task;
    }

    /// <summary>Opens once <paramref name="more"/> more intervals closed.</summary>
    public Task MoreIntervals(int more)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _intervals.Add((_count + more, done));
        }

        return done.Task;
    }

    public void OnInterval(LoadInterval interval, IReadOnlyDictionary<string, HistogramBase> histograms)
    {
        lock (_gate)
        {
            Seen.Add(interval);
            _count++;
            _totalFinished += interval.Finished;
            foreach (var (finished, done) in _finished.Where(f => _totalFinished >= f.Finished))
            {
                done.TrySetResult();
            }

            foreach (var (index, done) in _intervals.Where(i => _count >= i.Index))
            {
                done.TrySetResult();
            }
        }
    }
}
