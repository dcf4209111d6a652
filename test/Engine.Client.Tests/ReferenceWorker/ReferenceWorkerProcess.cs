using System.Diagnostics;
using Engine.Client.Protocol;
using Engine.Client.Testing;
using Engine.Client.Transport;
using Grpc.Net.Client;

namespace Engine.Client.Tests.ReferenceWorker;

/// <summary>How to start a <see cref="ReferenceWorkerProcess"/>.</summary>
public sealed class ReferenceWorkerStartOptions
{
    /// <summary>Listen on a free loopback TCP port instead of a Unix domain socket.</summary>
    public bool UseTcp { get; init; }

    /// <summary>Arguments added after <c>--id</c> and <c>--connection</c>.</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>The worker id (<c>--id</c>). Default a fresh one.</summary>
    public string? Id { get; init; }

    /// <summary>
    /// Start the worker through <c>sh -c '&lt;worker&gt; ... &amp; wait'</c>, so the shell is its
    /// parent (for parent-death tests). <see cref="ReferenceWorkerProcess.Process"/> is then the shell.
    /// </summary>
    public bool ThroughShell { get; init; }

    /// <summary>Called with the socket directory before the worker starts (for example to plant a stale socket file).</summary>
    public Action<string>? BeforeStart { get; init; }

    /// <summary>How long to wait for the first heartbeat answer. Default 20 s.</summary>
    public TimeSpan ReadinessTimeout { get; init; } = TimeSpan.FromSeconds(20);
}

/// <summary>
/// The reference worker as a real child process (<see cref="WorkerChildProcess"/>, the launcher the
/// tests and benchmarks share), on a Unix domain socket in a fresh short temp directory
/// (<c>/tmp/ec-&lt;random&gt;/w.sock</c>) or on a free loopback TCP port. Ready means a Manage
/// heartbeat was answered. Disposing stops it (SIGTERM, then SIGKILL after a bound) and deletes the
/// directory.
/// </summary>
public sealed class ReferenceWorkerProcess : IAsyncDisposable
{
    public const int SigKill = WorkerChildProcess.SigKill;
    public const int SigTerm = WorkerChildProcess.SigTerm;
    public const int MaxMessageSize = 128 * 1024 * 1024;

    private readonly WorkerChildProcess _host;
    private GrpcChannel? _channel;

    private ReferenceWorkerProcess(WorkerChildProcess host) => _host = host;

    /// <summary>The apphost next to the test assembly (the project reference copies it there).</summary>
    public static string ExecutablePath => Path.Combine(AppContext.BaseDirectory, "Engine.ReferenceWorker");

    /// <summary>The started process: the worker, or the shell when started through one.</summary>
    public Process Process => _host.Process;

    public string Id => _host.Id;

    /// <summary>The fresh temp directory (holds the socket for Unix transport).</summary>
    public string Directory => _host.Directory;

    public string? SocketPath => _host.SocketPath;

    public int? Port => _host.Port;

    /// <summary><c>unix:///...</c> or <c>http://127.0.0.1:port</c>.</summary>
    public string Address => _host.Address;

    public string Stdout => _host.Stdout;

    public string Stderr => _host.Stderr;

    /// <summary>A channel to the worker that accepts 128 MiB messages both ways, kept for the process's lifetime.</summary>
    public GrpcChannel Channel => _channel ??= CreateChannel();

    /// <summary>The raw generated client over <see cref="Channel"/>.</summary>
    public UdfWorker.UdfWorkerClient RawClient => new(Channel);

    public static async Task<ReferenceWorkerProcess> StartAsync(ReferenceWorkerStartOptions? options = null)
    {
        options ??= new ReferenceWorkerStartOptions();
        return new ReferenceWorkerProcess(await WorkerChildProcess.StartAsync(new WorkerLaunch
        {
            FileName = ExecutablePath,
            Name = "The reference worker",
            Id = options.Id,
            UseTcp = options.UseTcp,
            ExtraArguments = options.ExtraArguments,
            ThroughShell = options.ThroughShell,
            BeforeStart = options.BeforeStart,
            ReadinessTimeout = options.ReadinessTimeout,
        }));
    }

    /// <summary>Runs the worker with <paramref name="arguments"/> only and returns its exit code and output (for argument errors).</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunToExitAsync(IEnumerable<string> arguments, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(ExecutablePath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout.WaitAsync(timeout), await stderr.WaitAsync(timeout));
    }

    /// <summary>A fresh SDK client for the worker (128 MiB both ways).</summary>
    public WorkerClient CreateClient() => WorkerClient.Create(Address, new WorkerClientOptions { Connection = { MaxSendMessageSize = MaxMessageSize } });

    /// <summary>A fresh channel that accepts 128 MiB messages both ways; the caller disposes it.</summary>
    public GrpcChannel CreateChannel() => WorkerChannelFactory.Create(
        WorkerAddress.Parse(Address),
        new WorkerClientOptions { Connection = { MaxSendMessageSize = MaxMessageSize, MaxReceiveMessageSize = MaxMessageSize } });

    /// <summary>Sends <paramref name="signal"/> to the started process.</summary>
    public void Signal(int signal) => _host.Signal(signal);

    /// <summary>Waits for the process to exit (and its output to close); returns the exit code.</summary>
    public Task<int> WaitForExitAsync(TimeSpan timeout) => _host.WaitForExitAsync(timeout);

    /// <inheritdoc cref="WorkerChildProcess.WaitForMetricAsync"/>
    public Task WaitForMetricAsync(string metric, Func<long, bool> condition, TimeSpan timeout) => _host.WaitForMetricAsync(metric, condition, timeout);

    /// <summary>The process's output so far, for assertion messages.</summary>
    public string Describe() => _host.Describe();

    public async ValueTask DisposeAsync()
    {
        _channel?.Dispose();
        await _host.DisposeAsync();
    }
}
