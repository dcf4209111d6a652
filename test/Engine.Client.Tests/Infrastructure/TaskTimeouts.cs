namespace Engine.Client.Tests.Infrastructure;

/// <summary>
/// A default bound on every await in tests: a bug fails the test instead of hanging it. Protocol
/// timeouts in "fast path" tests are minutes, far above these bounds, so a regression that waits
/// for a protocol timeout fails here.
/// </summary>
public static class TaskTimeouts
{
    /// <summary>Bound for anything that should happen promptly.</summary>
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(20);

    /// <summary>Protocol timeouts for tests that prove a fast path.</summary>
    public static readonly TimeSpan Huge = TimeSpan.FromMinutes(5);

    public static Task DefaultTimeout(this Task task) => task.WaitAsync(Default);

    public static Task<T> DefaultTimeout<T>(this Task<T> task) => task.WaitAsync(Default);

    public static Task DefaultTimeout(this ValueTask task) => task.AsTask().WaitAsync(Default);

    public static Task<T> DefaultTimeout<T>(this ValueTask<T> task) => task.AsTask().WaitAsync(Default);

    /// <summary>Session options whose every protocol timeout is huge.</summary>
    public static SessionOptions HugeTimeouts(Action<SessionOptions>? adjust = null)
    {
        var options = new SessionOptions
        {
            InitResponseTimeout = Huge,
            IdleTimeout = Huge,
            CancelAcknowledgementTimeout = Huge,
        };
        adjust?.Invoke(options);
        return options;
    }

    /// <summary>Enumerates to a list, bounded.</summary>
    public static Task<List<T>> ToListAsync<T>(this IAsyncEnumerable<T> source) => ToListCoreAsync(source).WaitAsync(Default);

    private static async Task<List<T>> ToListCoreAsync<T>(IAsyncEnumerable<T> source)
    {
        var list = new List<T>();
        await foreach (var item in source)
        {
            list.Add(item);
        }

        return list;
    }
}
