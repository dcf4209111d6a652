using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Engine.Client.Workers;

/// <summary>
/// One worker process launched from a specification's <c>direct</c> section: started with
/// <c>--id</c> and <c>--connection</c>, ready once it answers a Manage heartbeat, watched until it
/// exits, and stopped by Manage shutdown, SIGTERM, then SIGKILL after the graceful timeout.
/// </summary>
/// <remarks>
/// <para>
/// Readiness is an answered heartbeat, never the socket file appearing. A process that exits
/// before it is ready fails the launch at once, naming its exit code and showing its output; one
/// that stays silent fails when the initialization timeout expires, and is stopped.
/// </para>
/// <para>
/// Children: with <see cref="WorkerProcessOptions.UseProcessGroup"/> the worker runs in its own
/// process group (via <c>setsid</c>, which keeps the pid), and SIGTERM and SIGKILL go to the
/// whole group, so the inner worker of a launcher script is stopped with it. A stop also waits
/// until every process holding the worker's stdout and stderr is gone (all of them, when the
/// group is used); whatever else is left in the group is killed once the stop has finished. A
/// worker that leaves its group is not tracked.
/// </para>
/// <para>
/// A killed engine: the worker gets SIGKILL as its parent-death signal, and its group is killed
/// by the group watch, so nothing depends on the worker watching its parent (see
/// <see cref="ChildProcesses"/>).
/// </para>
/// </remarks>
internal sealed class WorkerProcess : IAsyncDisposable
{
    private static long s_sequence;

    private readonly WorkerSpecification _specification;
    private readonly WorkerProcessOptions _options;
    private readonly WorkerEndpoint _endpoint;
    private readonly Process _process;
    private readonly OutputTail _output;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource<WorkerProcessExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool _processGroup;
    private Task _outputClosed = Task.CompletedTask;
    private Task<WorkerProcessExit?>? _stop;
    private volatile bool _stopRequested;
    private volatile bool _kill;
    private volatile bool _ready;
    private int _processId;

    private WorkerProcess(
        string id,
        WorkerSpecification specification,
        WorkerProcessOptions options,
        WorkerEndpoint endpoint,
        ProcessStartInfo startInfo,
        IReadOnlyList<string> commandLine,
        bool processGroup)
    {
        Id = id;
        _specification = specification;
        _options = options;
        _endpoint = endpoint;
        _processGroup = processGroup;
        _time = options.Client.TimeProvider;
        _logger = options.Client.LoggerFactory.CreateLogger<WorkerProcess>();
        _output = new OutputTail(options.OutputTailLines, options.OutputTailChars);
        CommandLine = commandLine;
        _process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        _process.Exited += OnExited;
        Client = WorkerClient.Create(endpoint.Address, options.Client);
    }

    /// <summary>The worker id passed with <c>--id</c>.</summary>
    public string Id { get; }

    /// <summary>The operating system's process id.</summary>
    public int ProcessId => _processId;

    /// <summary>The address the worker listens on.</summary>
    public WorkerAddress Address => _endpoint.Address;

    /// <summary>The private socket directory (mode 0700), or <see langword="null"/> for TCP.</summary>
    public string? SocketDirectory => _endpoint.Directory;

    /// <summary>The command line the worker was started with (executable, arguments, <c>--id</c>, <c>--connection</c>).</summary>
    public IReadOnlyList<string> CommandLine { get; }

    /// <summary>Whether the worker runs in its own process group (signals reach its children).</summary>
    public bool UsesProcessGroup => _processGroup;

    /// <summary>The specification the worker was launched from.</summary>
    public WorkerSpecification Specification => _specification;

    /// <summary>The client of this worker: one channel for its sessions and Manage calls. Disposed by <see cref="StopAsync"/>.</summary>
    public WorkerClient Client { get; }

    /// <summary>Completes when the worker process exits, for whatever reason, with how it ended. Never faults.</summary>
    public Task<WorkerProcessExit> Exited => _exited.Task;

    /// <summary>Completes when every process holding the worker's stdout and stderr has closed them (the worker and any children it gave them to).</summary>
    public Task OutputClosed => _outputClosed;

    /// <summary>The last lines the worker wrote to stdout and stderr.</summary>
    public string OutputTail => _output.Format();

    /// <summary>
    /// Launches a worker and waits until it answers a Manage heartbeat, within the specification's
    /// (capped) initialization timeout.
    /// </summary>
    /// <param name="specification">A specification; validated here.</param>
    /// <param name="options">Launch settings; <see langword="null"/> uses the defaults.</param>
    /// <param name="id">The worker id passed with <c>--id</c>; <see langword="null"/> generates one.</param>
    /// <param name="cancellationToken">Abandons the launch: the process is stopped and its directory removed.</param>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    /// <exception cref="WorkerLaunchException">The worker could not be started or did not become ready; nothing is left behind.</exception>
    public static async Task<WorkerProcess> StartAsync(
        WorkerSpecification specification,
        WorkerProcessOptions? options = null,
        string? id = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(specification);
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Launching worker processes needs Linux or macOS (SIGTERM, process groups, Unix domain sockets).");
        }

        specification.Validate();
        var effective = (options ?? new WorkerProcessOptions()).Clone();
        effective.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        id ??= string.Create(CultureInfo.InvariantCulture, $"w-{Environment.ProcessId}-{Interlocked.Increment(ref s_sequence)}");
        ArgumentException.ThrowIfNullOrWhiteSpace(id);

        var runner = specification.Runner;
        var startInfo = runner.CreateStartInfo(specification.BaseDirectory, "direct.runner", out var executable, out var resolveError)
            ?? throw new WorkerLaunchException(id, WorkerLaunchFailure.StartFailed, $"Cannot launch worker {id}: {resolveError}", null, string.Empty, null);

        var endpoint = WorkerEndpoint.Create(specification.Transport, effective.SocketDirectory, id);
        var commandLine = new List<string> { executable };
        commandLine.AddRange(runner.Command.Skip(1));
        commandLine.AddRange(runner.Arguments);
        commandLine.AddRange(["--id", id, "--connection", endpoint.ConnectionArgument]);
        if (effective.AdjustCommandLine is { } adjust)
        {
            commandLine = [.. adjust(commandLine)];
        }

        var processGroup = ChildProcesses.Prepare(startInfo, commandLine, effective.UseProcessGroup);

        WorkerProcess worker;
        try
        {
            effective.BeforeStart?.Invoke(endpoint.SocketPath);
            worker = new WorkerProcess(id, specification, effective, endpoint, startInfo, commandLine, processGroup);
        }
        catch
        {
            endpoint.Remove();
            throw;
        }

        try
        {
            worker.Start();
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException or IOException)
        {
            worker.Client.Dispose();
            worker._process.Dispose();
            endpoint.Remove();
            throw new WorkerLaunchException(
                id,
                WorkerLaunchFailure.StartFailed,
                $"Cannot launch worker {id}: starting {WorkerCommand.FormatCommandLine(commandLine)} failed: {ex.Message}",
                null,
                string.Empty,
                ex);
        }

        try
        {
            var failure = await worker.WaitUntilReadyAsync(cancellationToken).ConfigureAwait(false);
            if (failure is null)
            {
                return worker;
            }

            await worker.StopAsync(reason: "the worker did not become ready", cancellationToken: CancellationToken.None).ConfigureAwait(false);
            var exception = worker.DescribeFailure(failure);
            WorkerLog.LaunchFailed(worker._logger, id, exception.Failure);
            throw exception;
        }
        catch (Exception ex) when (ex is not WorkerLaunchException)
        {
            // Cancelled, or an unexpected failure: nothing may be left running.
            await worker.StopAsync(reason: "the launch was abandoned", cancellationToken: CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Stops the worker: Manage shutdown (when it was ready), SIGTERM, SIGKILL after the
    /// specification's graceful termination timeout; then removes the socket file and directory.
    /// Idempotent and safe to call concurrently: every caller gets the same result.
    /// </summary>
    /// <param name="cancelSessions">Asks the worker to cancel its in-flight sessions at once.</param>
    /// <param name="reason">A diagnostic reason sent with the shutdown.</param>
    /// <param name="cancellationToken">Stops waiting; the stop itself goes on.</param>
    /// <returns>How the process ended, or <see langword="null"/> when it did not disappear even after SIGKILL.</returns>
    public Task<WorkerProcessExit?> StopAsync(bool cancelSessions = false, string? reason = null, CancellationToken cancellationToken = default)
    {
        var stop = Volatile.Read(ref _stop);
        if (stop is null)
        {
            var created = new TaskCompletionSource<WorkerProcessExit?>(TaskCreationOptions.RunContinuationsAsynchronously);
            stop = Interlocked.CompareExchange(ref _stop, created.Task, null);
            if (stop is null)
            {
                stop = created.Task;
                _ = RunStopAsync(created, cancelSessions, reason);
            }
        }

        return stop.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Stops a worker known to be unresponsive or gone (a lost worker): SIGKILL to its process group
    /// at once, no Manage shutdown and no SIGTERM grace; then the clean-up of <see cref="StopAsync"/>.
    /// Escalates a graceful stop already in progress. Idempotent.
    /// </summary>
    /// <param name="reason">A diagnostic reason for the log.</param>
    /// <param name="cancellationToken">Stops waiting; the kill itself goes on.</param>
    /// <returns>How the process ended, or <see langword="null"/> when it did not disappear even after SIGKILL.</returns>
    public Task<WorkerProcessExit?> KillAsync(string? reason = null, CancellationToken cancellationToken = default)
    {
        _kill = true;
        if (_processId != 0 && Volatile.Read(ref _stop) is not { IsCompleted: true })
        {
            Signal(NativeMethods.SIGKILL);
        }

        return StopAsync(cancelSessions: false, reason, cancellationToken);
    }

    /// <summary>
    /// Closes the engine's end of the process's stdin, as the kernel does when the engine dies: a
    /// reader of stdin (and the group watch) sees end-of-file. The conformance kit's parent-death check.
    /// </summary>
    internal void CloseInput()
    {
        try
        {
            _process.StandardInput.Dispose();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            // The pipe is already broken: the process is gone.
        }
    }

    /// <summary>Stops the worker (see <see cref="StopAsync"/>).</summary>
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    /// <inheritdoc/>
    public override string ToString() => $"worker {Id} (pid {ProcessId}) at {Address}";

    private void Start()
    {
        ChildProcesses.Start(_process);
        _processId = _process.Id;
        if (_process.HasExited)
        {
            OnExited(_process, EventArgs.Empty);
        }

        var stdout = _output.PumpAsync(_process.StandardOutput, OnOutputLine);
        var stderr = _output.PumpAsync(_process.StandardError, OnOutputLine);
        _outputClosed = Task.WhenAll(stdout, stderr);
        WorkerLog.Started(_logger, Id, _processId, Address.ToString(), WorkerCommand.FormatCommandLine(CommandLine));
    }

    private void OnOutputLine(string line) => WorkerLog.Output(_logger, Id, line);

    private void OnExited(object? sender, EventArgs e)
    {
        int code;
        try
        {
            code = _process.ExitCode;
        }
        catch (InvalidOperationException)
        {
            return;
        }

        var exit = new WorkerProcessExit(code, _stopRequested);
        if (_exited.TrySetResult(exit))
        {
            WorkerLog.Exited(_logger, Id, _processId, exit);
        }
    }

    private async Task<ReadinessFailure?> WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        var timeout = _specification.InitializationTimeout;
        var start = _time.GetTimestamp();
        using var deadline = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        Exception? lastError = null;
        var attempts = 0;
        while (true)
        {
            if (_exited.Task.IsCompleted)
            {
                return new ReadinessFailure(WorkerLaunchFailure.ExitedBeforeReady, lastError, attempts);
            }

            var remaining = timeout - _time.GetElapsedTime(start);
            if (remaining <= TimeSpan.Zero || deadline.IsCancellationRequested)
            {
                return new ReadinessFailure(WorkerLaunchFailure.ReadinessTimeout, lastError, attempts);
            }

            attempts++;
            var probe = Client.ProbeAsync(remaining < _options.ReadinessProbeTimeout ? remaining : _options.ReadinessProbeTimeout, linked.Token);
            var first = await Task.WhenAny(probe, _exited.Task).ConfigureAwait(false);
            if (first != probe)
            {
                Observe(probe);
                continue;
            }

            try
            {
                await probe.ConfigureAwait(false);
                _ready = true;
                WorkerLog.Ready(_logger, Id, _processId, Address.ToString(), _time.GetElapsedTime(start).TotalMilliseconds, attempts);
                return null;
            }
            catch (WorkerTransportException ex)
            {
                lastError = ex;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The initialization deadline expired during the attempt; the loop reports it.
            }

            cancellationToken.ThrowIfCancellationRequested();
            if (_options.ReadinessPollInterval > TimeSpan.Zero)
            {
                var pause = Task.Delay(_options.ReadinessPollInterval, _time, linked.Token);
                await Task.WhenAny(pause, _exited.Task).ConfigureAwait(false);
                Observe(pause);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
    }

    private WorkerLaunchException DescribeFailure(ReadinessFailure failure)
    {
        var command = WorkerCommand.FormatCommandLine(CommandLine);
        var lines = _output.Lines().Count;
        var output = string.Create(CultureInfo.InvariantCulture, $"Output (last {lines} lines of stdout and stderr):\n{Indent(_output.Format())}");
        if (failure.Failure == WorkerLaunchFailure.ExitedBeforeReady)
        {
            var exit = _exited.Task.Result;
            return new WorkerLaunchException(
                Id,
                WorkerLaunchFailure.ExitedBeforeReady,
                $"Worker {Id} exited before it was ready: {exit}. Command: {command}\n{output}",
                exit,
                _output.Format(),
                failure.LastError);
        }

        var timeout = _specification.InitializationTimeout;
        var requested = _specification.RequestedInitializationTimeout;
        var setting = requested is null
            ? $"the default initialization timeout, since direct.properties.initializationTimeoutMs is not set"
            : requested.Value > timeout
                ? string.Create(CultureInfo.InvariantCulture, $"direct.properties.initializationTimeoutMs = {requested.Value.TotalMilliseconds:0}, capped at {Seconds(timeout)} by {nameof(WorkerSpecificationOptions)}.{nameof(WorkerSpecificationOptions.MaxInitializationTimeout)}")
                : string.Create(CultureInfo.InvariantCulture, $"direct.properties.initializationTimeoutMs = {requested.Value.TotalMilliseconds:0}");
        var last = failure.LastError is null ? "no attempt completed" : WorkerTransportException.DescribeCause(failure.LastError) ?? failure.LastError.Message;
        if (failure.LastError is WorkerTransportException transport)
        {
            last = transport.Message;
        }

        return new WorkerLaunchException(
            Id,
            WorkerLaunchFailure.ReadinessTimeout,
            string.Create(
                CultureInfo.InvariantCulture,
                $"Worker {Id} did not become ready within {Seconds(timeout)} ({setting}): the process was running but did not answer a Manage heartbeat at {Address} in {failure.Attempts} attempts; it was stopped. Last attempt: {last}. Command: {command}\n{output}"),
            null,
            _output.Format(),
            failure.LastError);
    }

    private async Task RunStopAsync(TaskCompletionSource<WorkerProcessExit?> result, bool cancelSessions, string? reason)
    {
        _stopRequested = true;
        WorkerLog.Stopping(_logger, Id, _processId);
        try
        {
            if (_ready && !_exited.Task.IsCompleted && !_kill)
            {
                try
                {
                    await Client.ShutdownAsync(reason ?? "the engine is stopping the worker", cancelSessions, _options.ShutdownRequestTimeout).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is WorkerTransportException or OperationCanceledException or ObjectDisposedException)
                {
                    WorkerLog.ShutdownRequestFailed(_logger, Id, ex.Message);
                }
            }

            Client.Dispose();
            var grace = _specification.GracefulTerminationTimeout;
            if (!Gone())
            {
                Signal(_kill ? NativeMethods.SIGKILL : NativeMethods.SIGTERM);
                if (_kill)
                {
                    if (!await WaitGoneAsync(_options.KillWaitTimeout).ConfigureAwait(false))
                    {
                        WorkerLog.KillIneffective(_logger, Id, _processId, _options.KillWaitTimeout.TotalMilliseconds, _exited.Task.IsCompleted, !_outputClosed.IsCompleted);
                    }
                }
                else if (!await WaitGoneAsync(grace).ConfigureAwait(false))
                {
                    WorkerLog.Killing(_logger, Id, _processId, grace.TotalMilliseconds);
                    Signal(NativeMethods.SIGKILL);
                    if (!await WaitGoneAsync(_options.KillWaitTimeout).ConfigureAwait(false))
                    {
                        WorkerLog.KillIneffective(_logger, Id, _processId, _options.KillWaitTimeout.TotalMilliseconds, _exited.Task.IsCompleted, !_outputClosed.IsCompleted);
                    }
                }
            }
        }
        catch (Exception ex)
        {
            WorkerLog.StopFailed(_logger, ex, Id);
        }
        finally
        {
            Client.Dispose();
            try
            {
                // End-of-file for the group watch: it kills what is left in the worker's group.
                _process.StandardInput.Dispose();
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException)
            {
                // The pipe is already broken: the process is gone.
            }

            if (_endpoint.Remove() is { } error)
            {
                WorkerLog.DirectoryNotRemoved(_logger, error, Id, _endpoint.Directory!);
            }

            if (_exited.Task.IsCompleted)
            {
                _process.Dispose();
            }

            result.TrySetResult(_exited.Task.IsCompleted ? _exited.Task.Result : null);
        }
    }

    /// <summary>Whether the process has exited and nothing holds its output any more.</summary>
    private bool Gone() => _exited.Task.IsCompleted && _outputClosed.IsCompleted;

    private async Task<bool> WaitGoneAsync(TimeSpan timeout)
    {
        try
        {
            await Task.WhenAll(_exited.Task, _outputClosed).WaitAsync(timeout, _time).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private void Signal(int signal)
    {
        if (_processGroup && NativeMethods.Kill(-_processId, signal) == 0)
        {
            return;
        }

        // No group (not used, not yet created by setsid, or already empty): the process itself,
        // unless it is known to be gone (its pid may be reused).
        if (!_exited.Task.IsCompleted && !_process.HasExited)
        {
            NativeMethods.Kill(_processId, signal);
        }
    }

    private static void Observe(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private static string Seconds(TimeSpan value) => string.Create(CultureInfo.InvariantCulture, $"{value.TotalSeconds:0.###} s");

    private static string Indent(string text) => "  " + text.Replace("\n", "\n  ", StringComparison.Ordinal);

    private sealed record ReadinessFailure(WorkerLaunchFailure Failure, Exception? LastError, int Attempts);
}
