using System.Globalization;
using Engine.Client.Workers;

namespace Engine.Client.Conformance;

/// <summary>
/// Whether a process the kit did not start itself (a worker whose parent the kit killed) is still
/// running. On Linux from <c>/proc/&lt;pid&gt;/stat</c>: a zombie (state <c>Z</c> or <c>X</c>)
/// counts as exited, since a process reparented to a PID 1 that does not reap stays one; a pid that
/// is gone or now names a process started at another time counts as exited too. Elsewhere
/// <c>kill(pid, 0)</c>, where a zombie would count as running.
/// </summary>
internal readonly record struct ProcessLiveness(int ProcessId, string? StartTime)
{
    private const int ESRCH = 3;

    /// <summary>The process with <paramref name="pid"/> as it is now (its start time, to tell a reused pid).</summary>
    public static ProcessLiveness Of(int pid) => new(pid, ReadStat(pid)?.StartTime);

    /// <summary>True while the process runs (neither exited, a zombie, nor replaced by another process with its pid).</summary>
    public bool IsRunning()
    {
        if (!OperatingSystem.IsLinux())
        {
            return NativeMethods.Kill(ProcessId, 0) != ESRCH;
        }

        var stat = ReadStat(ProcessId);
        return stat is { } now && now.State is not ('Z' or 'X') && (StartTime is null || string.Equals(now.StartTime, StartTime, StringComparison.Ordinal));
    }

    /// <summary>
    /// Waits until the process is no longer running, polling every 20 ms (a process that is not
    /// the kit's child cannot be waited for), at most <paramref name="timeout"/>.
    /// </summary>
    /// <returns>True when it exited in time.</returns>
    public async Task<bool> WaitExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = KitClock.Time.GetTimestamp();
        while (IsRunning())
        {
            if (KitClock.Time.GetElapsedTime(started) >= timeout)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), KitClock.Time, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>SIGKILL to the process, only while it still runs (so never to a pid reused by another process).</summary>
    public void Kill()
    {
        if (IsRunning())
        {
            _ = NativeMethods.Kill(ProcessId, NativeMethods.SIGKILL);
        }
    }

    /// <summary>Field 3 (state) and field 22 (start time, in clock ticks since boot) of <c>/proc/&lt;pid&gt;/stat</c>, or null when the pid is gone.</summary>
    private static (char State, string StartTime)? ReadStat(int pid)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        string text;
        try
        {
            text = File.ReadAllText(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/stat"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
        var close = text.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }

        var fields = text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 19 && fields[0].Length == 1 ? (fields[0][0], fields[19]) : null;
    }
}
