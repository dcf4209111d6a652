using Engine.ReferenceWorker.Execution;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Engine.ReferenceWorker.Management;

/// <summary>
/// Ends the worker: after a Manage Shutdown once the last stream is gone, and, when the host
/// stops (SIGTERM, parent death), by cancelling every live stream at once so none holds the
/// exit back.
/// </summary>
internal sealed class WorkerLifetime
{
    private readonly StreamRegistry _streams;
    private readonly IHostApplicationLifetime _host;
    private readonly ILogger _logger;
    private int _exitRequested;

    public WorkerLifetime(StreamRegistry streams, IHostApplicationLifetime host, ILogger<WorkerLifetime> logger)
    {
        _streams = streams;
        _host = host;
        _logger = logger;
        host.ApplicationStopping.Register(OnStopping);
    }

    /// <summary>Stops the process as soon as no stream is live. Idempotent.</summary>
    public void ExitWhenIdle()
    {
        if (Interlocked.Exchange(ref _exitRequested, 1) != 0)
        {
            return;
        }

        _streams.StopAccepting();
        _ = _streams.WhenIdleAsync().ContinueWith(
            _ => _host.StopApplication(),
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private void OnStopping()
    {
        var live = _streams.StopAccepting();
        WorkerLog.Stopping(_logger, live.Count);
        foreach (var stream in live)
        {
            stream.RequestShutdown("the worker process is stopping");
        }
    }
}
