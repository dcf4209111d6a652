namespace Engine.Client.Load;

/// <summary>
/// Waits of any length. A .NET timer waits at most 2^32 - 2 ms (about 49.7 days; longer throws
/// <see cref="ArgumentOutOfRangeException"/>), and a load test's schedule (stages of weeks, a stage
/// at rate 0) or drain limit may be longer: these wait in pieces.
/// </summary>
internal static class LongWait
{
    /// <summary>The longest wait one timer takes: 2^32 - 2 milliseconds.</summary>
    public static readonly TimeSpan Longest = TimeSpan.FromMilliseconds(uint.MaxValue - 1.0);

    /// <summary>Waits <paramref name="delay"/> (<see cref="Timeout.InfiniteTimeSpan"/>: until cancelled).</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        if (delay == Timeout.InfiniteTimeSpan)
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
            return;
        }

        while (delay > Longest)
        {
            await Task.Delay(Longest, cancellationToken).ConfigureAwait(false);
            delay -= Longest;
        }

        await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for <paramref name="semaphore"/> at most <paramref name="timeout"/>; true when it was entered.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static async Task<bool> EnterAsync(SemaphoreSlim semaphore, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // SemaphoreSlim takes at most int.MaxValue milliseconds (about 24.8 days).
        var longest = TimeSpan.FromMilliseconds(int.MaxValue);
        while (timeout > longest)
        {
            if (await semaphore.WaitAsync(longest, cancellationToken).ConfigureAwait(false))
            {
                return true;
            }

            timeout -= longest;
        }

        return await semaphore.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
    }
}
