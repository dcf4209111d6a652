using System.Diagnostics;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>
/// Pins every thread of a process to one CPU with util-linux's <c>taskset -a</c>; threads the
/// process starts later inherit the mask of the thread that starts them.
/// </summary>
public static class CpuPinning
{
    /// <summary>This process (the engine) to CPU 0 and the worker to CPU 1, said in the log.</summary>
    public static async Task PinEngineAndWorkerAsync(int workerProcessId, TextWriter log)
    {
        await PinAsync(Environment.ProcessId, 0).ConfigureAwait(false);
        await PinAsync(workerProcessId, 1).ConfigureAwait(false);
        log.WriteLine("pinned: engine to CPU 0, worker to CPU 1");
    }

    public static async Task PinAsync(int processId, int cpu)
    {
        if (Environment.ProcessorCount < 2)
        {
            throw new InvalidOperationException("--pin needs at least 2 CPUs: one for the engine, one for the worker.");
        }

        var start = new ProcessStartInfo("taskset", ["-a", "-p", "-c", cpu.ToString(System.Globalization.CultureInfo.InvariantCulture), processId.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var taskset = Process.Start(start) ?? throw new InvalidOperationException("taskset did not start.");
        var error = await taskset.StandardError.ReadToEndAsync().ConfigureAwait(false);
        await taskset.StandardOutput.ReadToEndAsync().ConfigureAwait(false);
        await taskset.WaitForExitAsync().ConfigureAwait(false);
        if (taskset.ExitCode != 0)
        {
            throw new InvalidOperationException($"taskset could not pin process {processId} to CPU {cpu}: {error.Trim()}");
        }
    }
}
