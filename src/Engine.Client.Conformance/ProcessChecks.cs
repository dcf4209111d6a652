using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Engine.Client.Workers;

namespace Engine.Client.Conformance;

/// <summary>
/// The process contract of a worker launched from its specification (docs/protocol.md, "Worker
/// specification"): each check launches its own worker through <see cref="WorkerProcess"/> and
/// stops it afterwards. The last two are advisory (docs/protocol.md, "Worker process
/// recommendations"): unknown flags ignored, and an exit when the parent dies.
/// </summary>
internal static class ProcessChecks
{
    private const string Rule = "docs/protocol.md#worker-specification";

    public static IReadOnlyList<(ConformanceCheck Check, Func<WorkerSpecification, WorkerProcessOptions, CancellationToken, Task> Run)> Catalog { get; } =
    [
        (new("process-ready", "Launched from its specification with --id and --connection: answers a heartbeat within its initialization timeout", false, Rule, "binds the given --connection and answers Manage Heartbeat before initialization_timeout_ms (capped) ends"), ReadyAsync),
        (new("process-stale-socket", "A stale socket file at the --connection path (left by a worker that died): the worker removes it, binds and answers within its initialization timeout", false, Rule, "removes the stale file at the socket path, binds there and answers Manage Heartbeat"), StaleSocketAsync),
        (new("process-sigterm", "SIGTERM to a ready worker: it exits within its graceful termination timeout", false, Rule, "exits (any code) within graceful_termination_timeout_ms (capped) of SIGTERM"), SigTermAsync),
        (new("process-unknown-flags", $"Launched with flags it does not know after --id and --connection ({UnknownFlag} {UnknownFlagValue} {UnknownOption}={UnknownFlagValue}), as a later engine may pass: it answers a heartbeat within its initialization timeout", false, RecommendationsRule, "ignores the unknown flags (a warning on stderr is fine), binds the given --connection and answers Manage Heartbeat before initialization_timeout_ms (capped) ends", advisory: true), UnknownFlagsAsync),
        (new("process-parent-death", "Its parent dies (SIGKILL to a parent the kit puts between itself and the worker, which gives the worker no parent-death signal): the worker exits within its graceful termination timeout plus 1 s", false, RecommendationsRule, "exits (any code) within graceful_termination_timeout_ms (capped) plus 1 s of its parent's death; a zombie left to a PID 1 that does not reap counts as exited", advisory: true), ParentDeathAsync),
    ];

    /// <summary>The unknown flags process-unknown-flags appends, one in each usual form: <c>--flag value</c> and <c>--flag=value</c>.</summary>
    internal const string UnknownFlag = "--engine-client-conformance-unknown-flag";

    internal const string UnknownOption = "--engine-client-conformance-unknown-option";

    internal const string UnknownFlagValue = "value";

    private const string RecommendationsRule = "docs/protocol.md#worker-process-recommendations";

    /// <summary>How long a worker may take to notice its parent's death (by polling, say), on top of its graceful termination timeout.</summary>
    private static readonly TimeSpan NoticeAllowance = TimeSpan.FromSeconds(1);

    /// <summary>Bound on what the kit waits for of itself: the parent's pid file, the parent's exit, a killed worker's exit.</summary>
    private static readonly TimeSpan KitWait = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The parent the kit puts between itself and the worker: a shell that starts the command line
    /// it is given in the background (the worker keeps the kit's stdin, where a shell would give it
    /// /dev/null), writes the worker's pid to the file named by its first argument, passes SIGTERM
    /// on (so a launch that fails stops the worker), and waits. Forked, the worker has no
    /// parent-death signal (the kernel clears it on fork).
    /// </summary>
    private const string ParentScript = """p=$1; shift; exec 3<&0; "$@" <&3 3<&- & w=$!; echo "$w" > "$p"; exec 3<&-; trap 'kill -TERM "$w" 2>/dev/null' TERM; wait "$w"; wait "$w" """;

    private const string ParentName = "engine-client-conformance-parent";

    private static async Task ReadyAsync(WorkerSpecification specification, WorkerProcessOptions options, CancellationToken cancellationToken)
    {
        var worker = await LaunchAsync(specification, options, "a heartbeat answer", cancellationToken).ConfigureAwait(false);
        await worker.StopAsync(reason: "engine-client conformance check", cancellationToken: CancellationToken.None).ConfigureAwait(false);
    }

    private static async Task StaleSocketAsync(WorkerSpecification specification, WorkerProcessOptions options, CancellationToken cancellationToken)
    {
        if (specification.Transport != WorkerTransport.UnixDomainSocket)
        {
            throw new ConformanceNotApplicable("the specification's transport is TCP; a stale socket file only exists for Unix domain sockets");
        }

        var staleOptions = options.Clone();
        staleOptions.BeforeStart = PlaceStaleSocket;
        var worker = await LaunchAsync(specification, staleOptions, "a heartbeat answer despite the stale socket file", cancellationToken).ConfigureAwait(false);
        await worker.StopAsync(reason: "engine-client conformance check", cancellationToken: CancellationToken.None).ConfigureAwait(false);
    }

    private static async Task SigTermAsync(WorkerSpecification specification, WorkerProcessOptions options, CancellationToken cancellationToken)
    {
        var worker = await LaunchAsync(specification, options, "a heartbeat answer", cancellationToken).ConfigureAwait(false);
        try
        {
            var grace = specification.GracefulTerminationTimeout;
            var signalled = KitClock.Time.GetTimestamp();
            _ = NativeMethods.Kill(worker.ProcessId, NativeMethods.SIGTERM);
            try
            {
                await worker.Exited.WaitAsync(grace, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new ConformanceFailure(
                    $"expected the worker to exit within its graceful termination timeout ({ConformanceStream.Seconds(grace)}) of SIGTERM, but it was still running after {ConformanceStream.Seconds(KitClock.Time.GetElapsedTime(signalled))}",
                    [string.Create(CultureInfo.InvariantCulture, $"SIGTERM to pid {worker.ProcessId}")],
                    [Tail(worker.OutputTail)]);
            }
        }
        finally
        {
            await worker.StopAsync(reason: "engine-client conformance check", cancellationToken: CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task UnknownFlagsAsync(WorkerSpecification specification, WorkerProcessOptions options, CancellationToken cancellationToken)
    {
        var flagged = options.Clone();
        flagged.AdjustCommandLine = commandLine => [.. commandLine, UnknownFlag, UnknownFlagValue, $"{UnknownOption}={UnknownFlagValue}"];
        var worker = await LaunchAsync(
            specification,
            flagged,
            "a heartbeat answer despite the unknown flags",
            cancellationToken,
            $" {UnknownFlag} {UnknownFlagValue} {UnknownOption}={UnknownFlagValue}").ConfigureAwait(false);
        await worker.StopAsync(reason: "engine-client conformance check", cancellationToken: CancellationToken.None).ConfigureAwait(false);
    }

    private static async Task ParentDeathAsync(WorkerSpecification specification, WorkerProcessOptions options, CancellationToken cancellationToken)
    {
        var directory = Directory.CreateTempSubdirectory("engine-client-conformance-");
        var pidFile = Path.Combine(directory.FullName, "worker.pid");
        var launch = options.Clone();

        // No process group: the SDK's group watch would kill the worker with the group when the
        // parent's stdin closes, and the check would prove nothing about the worker.
        launch.UseProcessGroup = false;
        launch.AdjustCommandLine = commandLine => ["/bin/sh", "-c", ParentScript, ParentName, pidFile, .. commandLine];
        ProcessLiveness? worker = null;
        WorkerProcess? parent = null;
        try
        {
            try
            {
                parent = await LaunchAsync(specification, launch, "a heartbeat answer from the worker started by the kit's parent process", cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                // The parent was stopped; a worker that outlived it is killed below.
                worker = TryReadWorker(pidFile);
                throw;
            }

            worker = await ReadWorkerAsync(pidFile, parent, cancellationToken).ConfigureAwait(false);
            var bound = specification.GracefulTerminationTimeout + NoticeAllowance;
            var sent = string.Create(CultureInfo.InvariantCulture, $"SIGKILL to the worker's parent (pid {parent.ProcessId}); the worker is pid {worker.Value.ProcessId}");

            // The parent dies as a killed engine does: SIGKILL, then its end of the worker's stdin is
            // closed (the kernel closes a dead process's descriptors).
            var killed = KitClock.Time.GetTimestamp();
            _ = NativeMethods.Kill(parent.ProcessId, NativeMethods.SIGKILL);
            await parent.Exited.WaitAsync(KitWait, cancellationToken).ConfigureAwait(false);
            parent.CloseInput();
            if (await worker.Value.WaitExitAsync(bound - KitClock.Time.GetElapsedTime(killed), cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            var waited = KitClock.Time.GetElapsedTime(killed);
            worker.Value.Kill();
            var gone = await worker.Value.WaitExitAsync(KitWait, cancellationToken).ConfigureAwait(false);
            throw new ConformanceFailure(
                $"expected the worker to exit within its graceful termination timeout plus 1 s ({ConformanceStream.Seconds(bound)}) of its parent's death, but it was still running after {ConformanceStream.Seconds(waited)}; "
                    + (gone ? "the kit killed it (SIGKILL)" : "the kit sent it SIGKILL, and it was still running after another " + ConformanceStream.Seconds(KitWait)),
                [sent, string.Create(CultureInfo.InvariantCulture, $"SIGKILL to the worker (pid {worker.Value.ProcessId}) after {ConformanceStream.Seconds(waited)}")],
                [Tail(parent.OutputTail)]);
        }
        finally
        {
            // Never a worker left behind: one still running here (the run was cancelled, or the kit
            // failed) is killed; then the parent's clean-up (its socket directory) runs.
            worker?.Kill();
            if (parent is not null)
            {
                await parent.StopAsync(reason: "engine-client conformance check", cancellationToken: CancellationToken.None).ConfigureAwait(false);
            }

            try
            {
                directory.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A temporary directory left behind is harmless.
            }
        }
    }

    /// <summary>The worker's pid, from the file the kit's parent process writes (a line ending in a newline once complete).</summary>
    private static async Task<ProcessLiveness> ReadWorkerAsync(string pidFile, WorkerProcess parent, CancellationToken cancellationToken)
    {
        var started = KitClock.Time.GetTimestamp();
        while (true)
        {
            if (TryReadWorker(pidFile) is { } worker)
            {
                return worker;
            }

            if (KitClock.Time.GetElapsedTime(started) >= KitWait)
            {
                throw new InvalidOperationException($"the kit's parent process (pid {parent.ProcessId}) did not name the worker's pid in {pidFile} within {ConformanceStream.Seconds(KitWait)}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), KitClock.Time, cancellationToken).ConfigureAwait(false);
        }
    }

    private static ProcessLiveness? TryReadWorker(string pidFile)
    {
        string text;
        try
        {
            text = File.ReadAllText(pidFile);
        }
        catch (IOException)
        {
            return null;
        }

        return text.EndsWith('\n') && int.TryParse(text.AsSpan().Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0
            ? ProcessLiveness.Of(pid)
            : null;
    }

    private static async Task<WorkerProcess> LaunchAsync(WorkerSpecification specification, WorkerProcessOptions options, string expected, CancellationToken cancellationToken, string extraArguments = "")
    {
        try
        {
            return await WorkerProcess.StartAsync(specification, options, id: null, cancellationToken).ConfigureAwait(false);
        }
        catch (WorkerLaunchException ex)
        {
            throw new ConformanceFailure(
                $"expected {expected} within the initialization timeout ({ConformanceStream.Seconds(specification.InitializationTimeout)}), but {ex.Failure}: {ex.Message}",
                [$"launch: {specification.Runner} --id <id> --connection <address>{extraArguments}"],
                [ex.Exit is { } exit ? $"process exit: {exit}" : "no process exit", Tail(ex.OutputTail)]);
        }
    }

    /// <summary>A socket file nobody listens on, as a worker that died leaves behind.</summary>
    private static void PlaceStaleSocket(string? path)
    {
        if (path is null)
        {
            return;
        }

        // .NET removes a bound socket's file when the socket is disposed; binding under another
        // name and renaming the file leaves a socket file without a listener at the path.
        var bound = path + ".stale";
        using (var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            socket.Bind(new UnixDomainSocketEndPoint(bound));
            File.Move(bound, path);
        }
    }

    private static string Tail(string output) => output.Length == 0 ? "no output" : "output: " + (output.Length <= 2000 ? output : "..." + output[^2000..]);
}
