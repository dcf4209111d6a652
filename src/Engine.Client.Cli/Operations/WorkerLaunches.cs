using System.Globalization;
using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli.Operations;

/// <summary>
/// Launching several workers from a specification (<c>workers start --count</c>, <c>load --spec
/// --workers</c>): a bounded count; the pool launches them a few at a time and none after an interrupt
/// (<see cref="WorkerPool.StartWorkersAsync"/>).
/// </summary>
internal static class WorkerLaunches
{
    /// <summary>The most workers one command launches.</summary>
    public const int MaxWorkers = 1024;

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
}
