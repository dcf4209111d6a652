using System.Text;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>Session inputs and expectations shared by the session fixtures.</summary>
public static class Inputs
{
    /// <summary>
    /// The items as UTF-8 batches, one per string, in order; it yields before each, so the session's
    /// writer meets an input that is not ready at once.
    /// </summary>
    public static async IAsyncEnumerable<ReadOnlyMemory<byte>> Items(params string[] items)
    {
        foreach (var item in items)
        {
            await Task.Yield();
            yield return Encoding.UTF8.GetBytes(item);
        }
    }

    /// <summary>
    /// Awaits <paramref name="action"/> within <see cref="TaskTimeouts.Default"/> and returns the
    /// <typeparamref name="T"/> it throws; fails the test when it completes without one (another
    /// exception, or the timeout, propagates).
    /// </summary>
    public static async Task<T> Expect<T>(Func<Task> action)
        where T : Exception
    {
        try
        {
            await action().DefaultTimeout();
        }
        catch (T expected)
        {
            return expected;
        }

        Assert.Fail($"Expected {typeof(T).Name}.");
        return null!;
    }
}
