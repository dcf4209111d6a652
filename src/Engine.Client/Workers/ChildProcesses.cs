using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Engine.Client.Workers;

/// <summary>
/// Starts the processes the engine launches (workers and environment steps) so that none of them
/// outlives the engine, whatever the process does: a killed engine (SIGKILL, a crash, the OOM
/// killer) takes its workers and their children with it, without relying on a worker watching
/// its parent.
/// </summary>
/// <remarks>
/// <para>
/// Two mechanisms, for two kinds of process. On Linux each launched process gets a
/// <b>parent-death signal</b> (<c>PR_SET_PDEATHSIG</c> = SIGKILL), set by util-linux
/// <c>setpriv --pdeathsig</c>, which then execs the command (the process keeps its pid). SIGKILL,
/// not SIGTERM: once the engine is gone nobody escalates, so a worker that ignores or is slow to
/// honour SIGTERM would stay up for good, which is the failure this prevents; a worker that wants
/// a graceful end can still watch its parent. .NET has no pre-exec hook (nor posix_spawn
/// attributes) to call <c>prctl</c> in the child, and a shim in another runtime would add a
/// dependency; setpriv ships with setsid in util-linux.
/// </para>
/// <para>
/// The signal fires when the <i>thread</i> that forked the process exits, not the process (see
/// <c>prctl(2)</c>). <see cref="Process.Start()"/> forks from the calling thread, often a thread
/// pool thread that the pool retires after a while of idleness, which would kill a healthy worker.
/// So every launch runs on one dedicated thread that lives as long as the engine process
/// (<see cref="Start"/>).
/// </para>
/// <para>
/// The signal reaches only the direct child. A worker's own children (the inner worker of a
/// launcher script, its helpers) run in the worker's <b>process group</b> (<c>setsid</c>), and a
/// small <b>group watch</b> in that group kills the whole group with SIGKILL when the engine end
/// of the worker's stdin closes: when the engine process dies (the kernel closes its descriptors,
/// from any thread, with no race between fork and arming), and when the engine finishes stopping
/// the worker (so nothing it left in its group survives the stop). The watch is a <c>/bin/sh</c>
/// started by a shim that then execs the worker, so the worker keeps the pid the engine started;
/// it ignores SIGTERM (the graceful stop's SIGTERM to the group must not end it) and holds none of
/// the worker's output. Both mechanisms are simpler than a supervisor process that would be the
/// group leader: the worker's pid, exit status and signals stay the worker's own.
/// </para>
/// <para>
/// Without setpriv (not Linux, or util-linux older than 2.33) there is no parent-death signal;
/// without setsid there is no group and no watch. Neither is an error: the launch works as before.
/// </para>
/// </remarks>
internal static class ChildProcesses
{
    /// <summary>The name the shim and the group watch show in <c>ps</c>.</summary>
    public const string ShimName = "engine-client-worker";

    /// <summary>
    /// Runs as <c>/bin/sh -c Shim engine-client-worker command args...</c>, as the process group
    /// leader: keeps the engine's stdin pipe on fd 3, starts the watch in the background (a
    /// non-interactive shell gives it /dev/null as stdin, hence the explicit <c>&lt;&amp;3</c>),
    /// then execs the command with fd 3 closed. The watch reads until end-of-file, then kills its
    /// process group (itself included): the group cannot have been reused while it is a member.
    /// </summary>
    internal const string Shim =
        "exec 3<&0\n" +
        "(trap '' HUP INT QUIT TERM; exec /bin/sh -c 'while read -r _; do :; done; kill -s KILL 0' engine-client-group-watch <&3 >/dev/null 2>&1 3<&-) &\n" +
        "exec \"$@\" 3<&-\n";

    private const string ShellPath = "/bin/sh";

    private static readonly string? SetsidPath = FirstExisting("/usr/bin/setsid", "/bin/setsid");
    private static readonly Lazy<string?> SetprivPath = new(FindSetprivWithPdeathsig);
    private static readonly BlockingCollection<Action> Launches = new();
    private static readonly Lazy<Thread> LauncherThread = new(StartLauncherThread);

    /// <summary>Whether launched processes can run in their own process group (setsid is installed).</summary>
    public static bool ProcessGroupsAvailable => SetsidPath is not null && File.Exists(ShellPath);

    /// <summary>Whether launched processes get a parent-death signal (Linux with util-linux setpriv 2.33 or later).</summary>
    public static bool ParentDeathSignalAvailable => SetprivPath.Value is not null;

    /// <summary>
    /// Sets <paramref name="startInfo"/>'s file name and arguments to run
    /// <paramref name="commandLine"/> (the resolved executable, then its arguments) with a
    /// parent-death signal when available, and, with <paramref name="processGroup"/>, in its own
    /// process group under the group watch. The started process keeps the pid either way.
    /// </summary>
    /// <returns>Whether the process runs in its own process group.</returns>
    public static bool Prepare(ProcessStartInfo startInfo, IReadOnlyList<string> commandLine, bool processGroup)
    {
        var group = processGroup && ProcessGroupsAvailable;
        var arguments = new List<string>();
        if (SetprivPath.Value is { } setpriv)
        {
            arguments.AddRange([setpriv, "--pdeathsig", "KILL", "--"]);
        }

        if (group)
        {
            arguments.AddRange([SetsidPath!, "--", ShellPath, "-c", Shim, ShimName]);
        }

        arguments.AddRange(commandLine);
        startInfo.FileName = arguments[0];
        startInfo.ArgumentList.Clear();
        foreach (var argument in arguments.Skip(1))
        {
            startInfo.ArgumentList.Add(argument);
        }

        return group;
    }

    /// <summary>
    /// Starts <paramref name="process"/> on the launcher thread, which never exits while the
    /// engine runs (so the parent-death signal fires only when the engine process dies), and
    /// waits for it. Exceptions of <see cref="Process.Start()"/> reach the caller unchanged.
    /// </summary>
    public static void Start(Process process)
    {
        if (Environment.CurrentManagedThreadId == LauncherThread.Value.ManagedThreadId)
        {
            process.Start();
            return;
        }

        ExceptionDispatchInfo? failure = null;
        using var done = new ManualResetEventSlim();
        Launches.Add(() =>
        {
            try
            {
                process.Start();
            }
            catch (Exception ex)
            {
                failure = ExceptionDispatchInfo.Capture(ex);
            }
            finally
            {
                done.Set();
            }
        });

        // Process.Start is synchronous; this waits for the fork and exec only.
        done.Wait();
        failure?.Throw();
    }

    private static Thread StartLauncherThread()
    {
        var thread = new Thread(() =>
        {
            foreach (var launch in Launches.GetConsumingEnumerable())
            {
                launch();
            }
        })
        {
            IsBackground = true,
            Name = "engine-client launcher",
        };
        thread.Start();
        return thread;
    }

    private static string? FindSetprivWithPdeathsig()
    {
        if (!OperatingSystem.IsLinux() || FirstExisting("/usr/bin/setpriv", "/bin/setpriv") is not { } setpriv || !File.Exists(ShellPath))
        {
            return null;
        }

        // --pdeathsig came with util-linux 2.33: ask this one whether it knows it.
        try
        {
            using var probe = Process.Start(new ProcessStartInfo(setpriv)
            {
                ArgumentList = { "--pdeathsig", "KILL", "--", ShellPath, "-c", ":" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (probe is null)
            {
                return null;
            }

            probe.StandardOutput.ReadToEnd();
            probe.StandardError.ReadToEnd();
            return probe.WaitForExit(10_000) && probe.ExitCode == 0 ? setpriv : null;
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return null;
        }
    }

    private static string? FirstExisting(params string[] paths) => paths.FirstOrDefault(File.Exists);
}
