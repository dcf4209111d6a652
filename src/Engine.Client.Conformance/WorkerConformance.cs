using System.Diagnostics;
using Engine.Client.Protocol;
using Engine.Client.Transport;
using Engine.Client.Workers;
using Grpc.Core;
using Grpc.Net.Client;

namespace Engine.Client.Conformance;

/// <summary>
/// Checks that a worker follows the worker side of the protocol (docs/conformance.md section C):
/// each check opens its own Execute stream (or Manage call), sends an exact wire sequence and
/// compares what comes back with what the protocol requires. Works against any worker that has
/// a profile (<see cref="WorkerConformanceOptions"/>): checks whose behaviour the profile does not
/// give end as <see cref="ConformanceStatus.NotApplicable"/>, never as failed.
/// </summary>
/// <example>
/// <code>
/// using var conformance = WorkerConformance.Create(WorkerAddress.Parse("unix:///tmp/w/w.sock"));
/// foreach (var result in await conformance.RunAsync())
///     Console.WriteLine(result);
/// </code>
/// </example>
public sealed class WorkerConformance : IDisposable, IAsyncDisposable
{
    private static readonly Dictionary<string, (ConformanceCheck Check, Func<ConformanceChecks, Task> Run)> ById =
        ConformanceChecks.Catalog.ToDictionary(static c => c.Check.Id, StringComparer.OrdinalIgnoreCase);

    private readonly CallInvoker _invoker;
    private readonly ConformanceTarget? _target;
    private readonly WorkerConformanceOptions _options;
    private readonly GrpcChannel? _ownedChannel;
    private WorkerProcess? _ownedProcess;

    /// <summary>
    /// Runs checks over <paramref name="callInvoker"/> (which the caller keeps owning). Without the
    /// worker's address the kit cannot open a connection of its own, so <c>keepalive-pings</c> is
    /// not applicable: use <see cref="Create(WorkerAddress, WorkerClientOptions?, WorkerConformanceOptions?)"/> to run it.
    /// </summary>
    /// <param name="callInvoker">The gRPC call invoker of the worker's channel.</param>
    /// <param name="options">Settings; <see langword="null"/> uses the defaults (the reference worker's formats).</param>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public WorkerConformance(CallInvoker callInvoker, WorkerConformanceOptions? options = null)
        : this(callInvoker, options, ownedChannel: null, target: null)
    {
    }

    private WorkerConformance(CallInvoker callInvoker, WorkerConformanceOptions? options, GrpcChannel? ownedChannel, ConformanceTarget? target)
    {
        ArgumentNullException.ThrowIfNull(callInvoker);
        var effective = (options ?? new WorkerConformanceOptions()).Clone();
        effective.Validate();
        _invoker = callInvoker;
        _options = effective;
        _ownedChannel = ownedChannel;
        _target = target;
    }

    /// <summary>
    /// Every check, in run order: C1 to C17, the named extras, then the checks that stop the
    /// worker (<see cref="ConformanceCheck.StopsWorker"/>).
    /// </summary>
    public static IReadOnlyList<ConformanceCheck> Checks { get; } = [.. ConformanceChecks.Catalog.Select(static c => c.Check)];

    /// <summary>The ids <see cref="RunAsync(CancellationToken)"/> runs: every check that leaves the worker running.</summary>
    public static IReadOnlyList<string> DefaultCheckIds { get; } = [.. Checks.Where(static c => !c.StopsWorker).Select(static c => c.Id)];

    /// <summary>
    /// Runs checks over a channel of its own to the worker at <paramref name="address"/>
    /// (<c>unix:///path</c> or <c>http://host:port</c>); dispose the returned object to close it.
    /// </summary>
    /// <param name="address">The worker's address.</param>
    /// <param name="clientOptions">Channel settings (message sizes, connect timeout); <see langword="null"/> uses the defaults.</param>
    /// <param name="options">Check settings; <see langword="null"/> uses the defaults.</param>
    /// <exception cref="FormatException">The address is malformed; the message shows the accepted forms.</exception>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public static WorkerConformance Create(string address, WorkerClientOptions? clientOptions = null, WorkerConformanceOptions? options = null) =>
        Create(WorkerAddress.Parse(address), clientOptions, options);

    /// <summary>
    /// Runs checks over a channel of its own to the worker at <paramref name="address"/>; dispose
    /// the returned object to close it.
    /// </summary>
    /// <param name="address">The worker's address.</param>
    /// <param name="clientOptions">Channel settings (message sizes, connect timeout); <see langword="null"/> uses the defaults.</param>
    /// <param name="options">Check settings; <see langword="null"/> uses the defaults.</param>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public static WorkerConformance Create(WorkerAddress address, WorkerClientOptions? clientOptions = null, WorkerConformanceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        var effective = (clientOptions ?? new WorkerClientOptions()).Clone();
        effective.Validate();
        var channel = WorkerChannelFactory.Create(address, effective);
        try
        {
            return new WorkerConformance(channel.CreateCallInvoker(), options, channel, new ConformanceTarget(address, effective));
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Launches a worker from <paramref name="specification"/> (as a pool does: <c>--id</c> and
    /// <c>--connection</c> appended, ready once it answers a heartbeat within its initialization
    /// timeout) and runs checks against it; disposing the returned object stops the worker (Manage
    /// Shutdown with <c>cancel_sessions</c>, SIGTERM, SIGKILL after the graceful timeout) and removes
    /// its socket directory.
    /// </summary>
    /// <param name="specification">The worker's specification.</param>
    /// <param name="options">Check settings (the worker's profile); <see langword="null"/> uses the defaults.</param>
    /// <param name="processOptions">Launch settings (socket directory, readiness); <see langword="null"/> uses the defaults.</param>
    /// <param name="clientOptions">The client of the launched worker (connection, clock, logging); <see langword="null"/> uses the defaults.</param>
    /// <param name="cancellationToken">Abandons the launch (the process is stopped).</param>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    /// <exception cref="WorkerLaunchException">The worker could not be started or did not become ready; nothing is left behind.</exception>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public static async Task<WorkerConformance> LaunchAsync(
        WorkerSpecification specification,
        WorkerConformanceOptions? options = null,
        WorkerProcessOptions? processOptions = null,
        WorkerClientOptions? clientOptions = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(specification);
        (options ?? new WorkerConformanceOptions()).Clone().Validate();
        processOptions = WithClient(processOptions, clientOptions);
        var process = await WorkerProcess.StartAsync(specification, processOptions, id: null, cancellationToken).ConfigureAwait(false);
        try
        {
            var conformance = Create(process.Address, processOptions.Client, options);
            conformance._ownedProcess = process;
            return conformance;
        }
        catch
        {
            await process.StopAsync(cancellationToken: CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A copy of the launch settings whose worker client uses <paramref name="clientOptions"/>.</summary>
    private static WorkerProcessOptions WithClient(WorkerProcessOptions? processOptions, WorkerClientOptions? clientOptions)
    {
        var effective = (processOptions ?? new WorkerProcessOptions()).Clone();
        if (clientOptions is not null)
        {
            effective.Client = clientOptions.Clone();
        }

        return effective;
    }

    /// <summary>The check with <paramref name="id"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No check has that id; the message lists them.</exception>
    public static ConformanceCheck GetCheck(string id) => Find(id).Check;

    /// <summary>
    /// Runs every check that leaves the worker running (all but those with
    /// <see cref="ConformanceCheck.StopsWorker"/>), one after the other.
    /// </summary>
    /// <param name="cancellationToken">Stops the run; the check in progress ends as failed.</param>
    /// <returns>One result per check, in run order. Never throws for a misbehaving worker.</returns>
    public Task<IReadOnlyList<ConformanceResult>> RunAsync(CancellationToken cancellationToken = default) =>
        RunAsync(DefaultCheckIds, progress: null, cancellationToken);

    /// <summary>
    /// Runs the checks named by <paramref name="checkIds"/>, one after the other, in the catalog's
    /// order (so a check that stops the worker runs after the others).
    /// </summary>
    /// <param name="checkIds">Check ids (case-insensitive), see <see cref="Checks"/>.</param>
    /// <param name="progress">Told each result as soon as its check ends; <see langword="null"/> for none.</param>
    /// <param name="cancellationToken">Stops the run; the check in progress ends as failed.</param>
    /// <returns>One result per check. Never throws for a misbehaving worker.</returns>
    /// <exception cref="ArgumentException">An id names no check; the message lists them.</exception>
    public async Task<IReadOnlyList<ConformanceResult>> RunAsync(
        IEnumerable<string> checkIds,
        IProgress<ConformanceResult>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkIds);
        var selected = checkIds.Select(Find).Distinct().ToList();
        var ordered = ConformanceChecks.Catalog.Where(selected.Contains).ToList();
        var results = new List<ConformanceResult>(ordered.Count);
        foreach (var entry in ordered)
        {
            var result = await RunOneAsync(entry, cancellationToken).ConfigureAwait(false);
            results.Add(result);
            progress?.Report(result);
        }

        return results;
    }

    /// <summary>Runs the one check named <paramref name="checkId"/>.</summary>
    /// <param name="checkId">A check id (case-insensitive), see <see cref="Checks"/>.</param>
    /// <param name="cancellationToken">Stops the check; it then ends as failed.</param>
    /// <returns>The result. Never throws for a misbehaving worker.</returns>
    /// <exception cref="ArgumentException">The id names no check; the message lists them.</exception>
    public Task<ConformanceResult> RunCheckAsync(string checkId, CancellationToken cancellationToken = default) =>
        RunOneAsync(Find(checkId), cancellationToken);

    /// <summary>
    /// The checks of the process contract that <c>CheckProcessAsync</c> runs on workers it
    /// launches from a specification: ready within the initialization timeout, a stale socket file
    /// removed, exit on SIGTERM within the graceful termination timeout; and two advisory ones
    /// (<see cref="ConformanceCheck.Advisory"/>): unknown flags ignored, exit when the parent dies.
    /// </summary>
    public static IReadOnlyList<ConformanceCheck> ProcessChecks { get; } = [.. Conformance.ProcessChecks.Catalog.Select(static c => c.Check)];

    /// <summary>
    /// Checks the process contract of the worker <paramref name="specification"/> describes: each of
    /// <see cref="ProcessChecks"/> launches its own worker (through <see cref="WorkerProcess"/>, as a
    /// pool does) and stops it afterwards. The advisory checks end as
    /// <see cref="ConformanceStatus.Warning"/> when the worker does not follow them (not strict).
    /// </summary>
    /// <param name="specification">The worker's specification; a check whose transport it does not use (a stale socket file over TCP) is not applicable.</param>
    /// <param name="processOptions">Launch settings (socket directory, readiness); <see langword="null"/> uses the defaults.</param>
    /// <param name="progress">Told each result as soon as its check ends; <see langword="null"/> for none.</param>
    /// <param name="cancellationToken">Stops the run; the check in progress ends as failed and its worker is stopped.</param>
    /// <returns>One result per process check, in <see cref="ProcessChecks"/> order. Never throws for a misbehaving worker.</returns>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    /// <exception cref="PlatformNotSupportedException">On Windows (launching needs signals and Unix domain sockets).</exception>
    public static Task<IReadOnlyList<ConformanceResult>> CheckProcessAsync(
        WorkerSpecification specification,
        WorkerProcessOptions? processOptions = null,
        IProgress<ConformanceResult>? progress = null,
        CancellationToken cancellationToken = default) =>
        CheckProcessAsync(specification, processOptions, progress, options: null, cancellationToken);

    /// <summary>
    /// Checks the process contract of the worker <paramref name="specification"/> describes, as
    /// <see cref="CheckProcessAsync(WorkerSpecification, WorkerProcessOptions?, IProgress{ConformanceResult}?, CancellationToken)"/>
    /// does, with the run's settings: with <see cref="WorkerConformanceOptions.Strict"/> an advisory
    /// check the worker does not follow ends as <see cref="ConformanceStatus.Failed"/>.
    /// </summary>
    /// <param name="specification">The worker's specification; a check whose transport it does not use (a stale socket file over TCP) is not applicable.</param>
    /// <param name="processOptions">Launch settings (socket directory, readiness); <see langword="null"/> uses the defaults.</param>
    /// <param name="progress">Told each result as soon as its check ends; <see langword="null"/> for none.</param>
    /// <param name="options">Run settings (only <see cref="WorkerConformanceOptions.Strict"/> applies to the process checks); <see langword="null"/> uses the defaults (not strict).</param>
    /// <param name="cancellationToken">Stops the run; the check in progress ends as failed and its worker is stopped.</param>
    /// <returns>One result per process check, in <see cref="ProcessChecks"/> order. Never throws for a misbehaving worker.</returns>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    /// <exception cref="PlatformNotSupportedException">On Windows (launching needs signals and Unix domain sockets).</exception>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public static async Task<IReadOnlyList<ConformanceResult>> CheckProcessAsync(
        WorkerSpecification specification,
        WorkerProcessOptions? processOptions,
        IProgress<ConformanceResult>? progress,
        WorkerConformanceOptions? options,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(specification);
        var settings = (options ?? new WorkerConformanceOptions()).Clone();
        settings.Validate();
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Launching worker processes needs Linux or macOS.");
        }

        specification.Validate();
        var launch = (processOptions ?? new WorkerProcessOptions()).Clone();
        launch.Validate();
        var results = new List<ConformanceResult>();
        foreach (var (check, run) in Conformance.ProcessChecks.Catalog)
        {
            var result = await GuardAsync(check, () => run(specification, launch, cancellationToken), settings.Strict, cancellationToken).ConfigureAwait(false);
            results.Add(result);
            progress?.Report(result);
        }

        return results;
    }

    private Task<ConformanceResult> RunOneAsync((ConformanceCheck Check, Func<ConformanceChecks, Task> Run) entry, CancellationToken cancellationToken) =>
        GuardAsync(entry.Check, () => entry.Run(new ConformanceChecks(_invoker, _target, _options, cancellationToken)), _options.Strict, cancellationToken);

    private static async Task<ConformanceResult> GuardAsync(ConformanceCheck check, Func<Task> run, bool strict, CancellationToken cancellationToken)
    {
        // An advisory check the worker does not follow is a warning, unless the run is strict.
        var notFollowed = check.Advisory && !strict ? ConformanceStatus.Warning : ConformanceStatus.Failed;
        var started = KitClock.Time.GetTimestamp();
        var entry = (Check: check, Run: run);
        try
        {
            await entry.Run().ConfigureAwait(false);
            return new ConformanceResult(entry.Check, ConformanceStatus.Passed, null, KitClock.Time.GetElapsedTime(started));
        }
        catch (ConformanceFailure failure)
        {
            return new ConformanceResult(entry.Check, notFollowed, failure.Message, KitClock.Time.GetElapsedTime(started), failure.Sent, failure.Received);
        }
        catch (ConformanceNotApplicable notApplicable)
        {
            return new ConformanceResult(entry.Check, ConformanceStatus.NotApplicable, notApplicable.Message, KitClock.Time.GetElapsedTime(started), profileKey: notApplicable.ProfileKey);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new ConformanceResult(entry.Check, ConformanceStatus.Failed, "the run was cancelled before the check ended", KitClock.Time.GetElapsedTime(started));
        }
        catch (Exception ex)
        {
            // Anything unexpected (a connection that cannot be made, a client-side error) is the
            // check's verdict too: the run goes on with the next check.
            return new ConformanceResult(
                entry.Check,
                notFollowed,
                $"the check could not complete: {ConformanceStream.DescribeError(ex)} ({ex.GetType().Name})",
                KitClock.Time.GetElapsedTime(started));
        }
    }

    private static (ConformanceCheck Check, Func<ConformanceChecks, Task> Run) Find(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        return ById.TryGetValue(id, out var entry)
            ? entry
            : throw new ArgumentException($"No conformance check has the id '{id}'. Known: {string.Join(", ", ById.Keys)}.", nameof(id));
    }

    /// <summary>
    /// Closes the channel this object opened (the <c>Create</c> methods) and stops the worker it
    /// launched (<see cref="LaunchAsync"/>), waiting for it to exit; a caller's call invoker is left alone.
    /// </summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <inheritdoc cref="Dispose"/>
    public async ValueTask DisposeAsync()
    {
        _ownedChannel?.Dispose();
        if (Interlocked.Exchange(ref _ownedProcess, null) is { } process)
        {
            await process.StopAsync(cancelSessions: true, reason: "engine-client conformance: done").ConfigureAwait(false);
        }
    }
}

/// <summary>The worker's address and the client settings of a run, for checks that open connections of their own.</summary>
internal sealed record ConformanceTarget(WorkerAddress Address, WorkerClientOptions ClientOptions);
