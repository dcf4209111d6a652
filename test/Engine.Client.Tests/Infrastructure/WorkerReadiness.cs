using System.Diagnostics;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>
/// Waits until a worker process the tests started answers a heartbeat: readiness is a Manage answer
/// (a socket file alone proves nothing). Shared by every worker launcher of the tests.
/// </summary>
internal static class WorkerReadiness
{
    /// <summary>Heartbeats <paramref name="address"/> until one is answered, the process exits or <paramref name="timeout"/> passes.</summary>
    /// <param name="address">The worker's address.</param>
    /// <param name="process">The worker process: its exit ends the wait at once.</param>
    /// <param name="timeout">Bound on the whole wait.</param>
    /// <param name="name">For messages, e.g. "The reference worker".</param>
    /// <param name="describe">The process's output so far, for messages.</param>
    /// <param name="period">The spacing of attempts: until the worker listens, attempts fail at once.</param>
    /// <param name="options">The client settings (TLS, tokens); <see langword="null"/> for the defaults.</param>
    /// <exception cref="InvalidOperationException">The process exited first.</exception>
    /// <exception cref="TimeoutException">No answer within <paramref name="timeout"/>.</exception>
    public static async Task WaitAsync(string address, Process process, TimeSpan timeout, string name, Func<string> describe, TimeSpan period, WorkerClientOptions? options = null)
    {
        using var client = WorkerClient.Create(address, options);
        using var deadline = new CancellationTokenSource(timeout);
        using var timer = new PeriodicTimer(period);
        Exception? last = null;
        while (!deadline.IsCancellationRequested)
        {
            if (process.HasExited)
            {
                // Let the output pipes drain so the message shows why it exited.
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
                throw new InvalidOperationException($"{name} exited with code {process.ExitCode} before it answered a heartbeat. {describe()}");
            }

            try
            {
                await client.HeartbeatAsync(TimeSpan.FromSeconds(2), deadline.Token);
                return;
            }
            catch (Exception ex) when (ex is WorkerTransportException or OperationCanceledException)
            {
                last = ex;
            }

            try
            {
                await timer.WaitForNextTickAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        throw new TimeoutException($"{name} did not answer a heartbeat within {timeout.TotalSeconds} s (last error: {last?.Message}). {describe()}");
    }
}
