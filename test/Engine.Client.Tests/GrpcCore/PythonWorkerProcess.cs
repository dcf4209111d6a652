using System.Diagnostics;
using Engine.Client.Testing;
using Engine.Client.Tests.Workers;

namespace Engine.Client.Tests.GrpcCore;

/// <summary>
/// The gRPC-core worker (<c>test/workers/python/worker.py</c> on Debian's <c>python3-grpcio</c>) as
/// a real child process (<see cref="WorkerChildProcess"/>, the launcher the tests share), on a Unix
/// domain socket in a fresh short temp directory or on a free loopback TCP port. Ready means a
/// Manage heartbeat was answered. Disposing stops it (SIGTERM, then SIGKILL after a bound) and
/// deletes the directory.
/// </summary>
public sealed class PythonWorkerProcess : IAsyncDisposable
{
    /// <summary>The system Python: a <c>python3</c> first on PATH (pyenv, a venv) may not see Debian's modules.</summary>
    public const string Python = "/usr/bin/python3";

    private readonly WorkerChildProcess _host;

    private PythonWorkerProcess(WorkerChildProcess host) => _host = host;

    /// <summary>The worker script in the repository.</summary>
    public static string Script => Path.Combine(Specs.RepositoryRoot(), "test", "workers", "python", "worker.py");

    public Process Process => _host.Process;

    public string Id => _host.Id;

    /// <summary>The fresh temp directory (holds the socket for Unix transport).</summary>
    public string Directory => _host.Directory;

    /// <summary><c>unix:///...</c> or <c>http://127.0.0.1:port</c>.</summary>
    public string Address => _host.Address;

    /// <summary>
    /// Starts the worker and waits for its first heartbeat answer.
    /// </summary>
    /// <param name="tcp">Listen on a free loopback TCP port instead of a Unix domain socket.</param>
    /// <param name="serverOptions">gRPC server channel arguments (<c>--option NAME=VALUE</c>), for example the keepalive enforcement.</param>
    public static async Task<PythonWorkerProcess> StartAsync(bool tcp = false, params string[] serverOptions) =>
        new(await WorkerChildProcess.StartAsync(new WorkerLaunch
        {
            FileName = Python,
            LeadingArguments = [Script],
            ExtraArguments = [.. serverOptions.SelectMany(option => new[] { "--option", option })],
            Name = "The Python worker",
            IdPrefix = "py-",
            DirectoryPrefix = "ecpy-",
            UseTcp = tcp,
            ReadinessTimeout = TimeSpan.FromSeconds(30),
            ReadinessPeriod = TimeSpan.FromMilliseconds(50),
            StartFailureHint = "Install python3, python3-grpcio, python3-protobuf and protobuf-compiler (.ci/run does).",
        }));

    /// <summary>A fresh SDK client for the worker; the caller disposes it.</summary>
    public WorkerClient CreateClient(WorkerClientOptions? options = null) => WorkerClient.Create(Address, options);

    /// <summary>What the process printed so far (stdout and stderr), for assertion messages.</summary>
    public string Describe() => _host.Describe();

    /// <inheritdoc cref="WorkerChildProcess.WaitForMetricAsync"/>
    public Task WaitForMetricAsync(string metric, Func<long, bool> condition, TimeSpan timeout) => _host.WaitForMetricAsync(metric, condition, timeout);

    /// <summary>Waits for the process to exit; returns its exit code.</summary>
    public Task<int> WaitForExitAsync(TimeSpan timeout) => _host.WaitForExitAsync(timeout);

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
