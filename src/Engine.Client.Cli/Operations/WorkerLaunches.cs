using System.Globalization;
using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli.Operations;

/// <summary>
/// Launching several workers from a specification (<c>workers start --count</c>, <c>load --spec
/// --workers</c>): a bounded count, a few launches at a time, and no launch begun after an interrupt.
/// </summary>
internal static class WorkerLaunches
{
    /// <summary>The most workers one command launches.</summary>
    public const int MaxWorkers = 1024;

    /// <summary>The most launches in progress at once: each is a process start and a wait for its socket.</summary>
    public const int MaxConcurrentLaunches = 4;

    /// <summary>The count, checked: 1 to <see cref="MaxWorkers"/>, else a usage error naming the option and the limit.</summary>
    public static int CheckCount(int? count, string option)
    {
        var value = count ?? 1;
        if (value is < 1 or > MaxWorkers)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture, $"{option} {value} is out of range; give 1 to {MaxWorkers}."));
        }

        return value;
    }

    /// <summary>
    /// Launches <paramref name="count"/> workers of <paramref name="pool"/>, at most
    /// <see cref="MaxConcurrentLaunches"/> at a time; returns them in launch order. An interrupt
    /// begins no further launch and throws <see cref="OperationCanceledException"/> at once; a
    /// failed launch throws its exception. Either way, launches still in progress belong to the
    /// pool, which stops them when disposed.
    /// </summary>
    public static async Task<IReadOnlyList<PooledWorkerInfo>> StartAsync(WorkerPool pool, int count, CancellationToken interrupt)
    {
        ArgumentNullException.ThrowIfNull(pool);
        var started = new PooledWorkerInfo[count];
        var running = new Dictionary<Task<IReadOnlyList<PooledWorkerInfo>>, int>();
        var next = 0;
        try
        {
            while (next < count || running.Count > 0)
            {
                while (next < count && running.Count < MaxConcurrentLaunches)
                {
                    interrupt.ThrowIfCancellationRequested();
                    running.Add(pool.StartWorkersAsync(1, interrupt), next);
                    next++;
                }

                var done = await Task.WhenAny(running.Keys);
                started[running[done]] = (await done).Single();
                running.Remove(done);
            }
        }
        catch
        {
            // The others end with the pool; their outcome is not this call's.
            foreach (var task in running.Keys)
            {
                _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }

            throw;
        }

        return started;
    }
}
