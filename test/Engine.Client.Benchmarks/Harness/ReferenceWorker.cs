using System.Diagnostics;
using Engine.Client.Testing;

namespace Engine.Client.Benchmarks.Harness;

/// <summary>The transport a worker listens on.</summary>
public enum BenchTransport
{
    /// <summary>HTTP/2 over a Unix domain socket.</summary>
    Uds,

    /// <summary>HTTP/2 over loopback TCP.</summary>
    Tcp,
}

/// <summary>
/// The reference worker as a real child process, started by <see cref="WorkerChildProcess"/> (the
/// launcher the tests use too): on a Unix domain socket in a fresh short directory, or on a free
/// loopback TCP port. Ready means a Manage heartbeat was answered. Disposing stops it with SIGTERM
/// (SIGKILL after a bound) and removes the directory.
/// </summary>
public sealed class ReferenceWorker : IAsyncDisposable
{
    private readonly WorkerChildProcess _host;

    private ReferenceWorker(WorkerChildProcess host, BenchTransport transport)
    {
        _host = host;
        Transport = transport;
    }

    /// <summary>The worker's apphost, copied next to this assembly by the project reference.</summary>
    public static string ExecutablePath => Path.Combine(AppContext.BaseDirectory, "Engine.ReferenceWorker");

    public Process Process => _host.Process;

    public BenchTransport Transport { get; }

    /// <summary><c>unix:///...</c> or <c>http://127.0.0.1:port</c>.</summary>
    public string Address => _host.Address;

    public string? SocketPath => _host.SocketPath;

    public int? Port => _host.Port;

    /// <summary>The worker's peak resident set so far (VmHWM), in bytes; 0 when unknown.</summary>
    public long PeakWorkingSet => ProcStatus.Read(Process.Id, "VmHWM");

    /// <summary>The worker's stderr so far (its warnings and errors).</summary>
    public string Stderr => _host.Stderr;

    /// <summary>Starts a worker and waits until it answers a heartbeat.</summary>
    /// <param name="transport">Where it listens.</param>
    /// <param name="extraArguments">Worker flags added after <c>--id</c> and <c>--connection</c>.</param>
    /// <param name="environment">Environment variables for the worker process (for example GC settings).</param>
    /// <param name="executable">Another worker with the same command line (the native echo worker); the reference worker when null.</param>
    public static async Task<ReferenceWorker> StartAsync(
        BenchTransport transport,
        IReadOnlyList<string>? extraArguments = null,
        IReadOnlyDictionary<string, string>? environment = null,
        string? executable = null)
    {
        if (!File.Exists(executable ?? ExecutablePath))
        {
            throw new FileNotFoundException($"The worker is not at {executable ?? ExecutablePath}; build the benchmark project first.");
        }

        var host = await WorkerChildProcess.StartAsync(new WorkerLaunch
        {
            FileName = executable ?? ExecutablePath,
            Name = executable is null ? "The reference worker" : "The native echo worker",
            Id = "bench-" + transport.ToString().ToLowerInvariant(),
            DirectoryPrefix = "ecb-",
            UseTcp = transport == BenchTransport.Tcp,
            ExtraArguments = extraArguments ?? [],
            Environment = environment,
            ReadinessTimeout = TimeSpan.FromSeconds(30),
        }).ConfigureAwait(false);
        return new ReferenceWorker(host, transport);
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
