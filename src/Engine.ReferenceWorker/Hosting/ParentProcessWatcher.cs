using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Engine.ReferenceWorker.Hosting;

/// <summary>
/// Stops the worker when the process that started it dies, so an engine killed with SIGKILL never
/// leaves workers behind. It polls <c>getppid()</c>: when the parent dies the worker is
/// re-parented (to init or a subreaper) and the value changes. PR_SET_PDEATHSIG is not used on
/// purpose: it fires when the parent *thread* exits, which is wrong for multi-threaded engines.
/// </summary>
internal sealed class ParentProcessWatcher(IHostApplicationLifetime lifetime, ILogger<ParentProcessWatcher> logger) : BackgroundService
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var initial = Libc.GetParentProcessId();
        using var timer = new PeriodicTimer(PollInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var current = Libc.GetParentProcessId();
                if (current != initial)
                {
                    WorkerLog.ParentDied(logger, initial, current);
                    lifetime.StopApplication();
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Host stopping: nothing left to watch.
        }
    }
}
