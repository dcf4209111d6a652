using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Engine.Client.Workers;

namespace Engine.Client.Conformance;

/// <summary>
/// The process contract of a worker launched from its specification (docs/protocol.md, "Worker
/// specification"): each check launches its own worker through <see cref="WorkerProcess"/> and
/// stops it afterwards.
/// </summary>
internal static class ProcessChecks
{
    private const string Rule = "docs/protocol.md#worker-specification";

    public static IReadOnlyList<(ConformanceCheck Check, Func<WorkerSpecification, WorkerProcessOptions, CancellationToken, Task> Run)> Catalog { get; } =
    [
        (new("process-ready", "Launched from its specification with --id and --connection: answers a heartbeat within its initialization timeout", false, Rule, "binds the given --connection and answers Manage Heartbeat before initialization_timeout_ms (capped) ends"), ReadyAsync),
        (new("process-stale-socket", "A stale socket file at the --connection path (left by a worker that died): the worker removes it, binds and answers within its initialization timeout", false, Rule, "removes the stale file at the socket path, binds there and answers Manage Heartbeat"), StaleSocketAsync),
        (new("process-sigterm", "SIGTERM to a ready worker: it exits within its graceful termination timeout", false, Rule, "exits (any code) within graceful_termination_timeout_ms (capped) of SIGTERM"), SigTermAsync),
    ];

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

    private static async Task<WorkerProcess> LaunchAsync(WorkerSpecification specification, WorkerProcessOptions options, string expected, CancellationToken cancellationToken)
    {
        try
        {
            return await WorkerProcess.StartAsync(specification, options, id: null, cancellationToken).ConfigureAwait(false);
        }
        catch (WorkerLaunchException ex)
        {
            throw new ConformanceFailure(
                $"expected {expected} within the initialization timeout ({ConformanceStream.Seconds(specification.InitializationTimeout)}), but {ex.Failure}: {ex.Message}",
                [$"launch: {specification.Runner} --id <id> --connection <address>"],
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
