using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Engine.Client.Protocol;
using Engine.Client.Tests.Infrastructure;
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

    /// <summary>Listen on this loopback TCP port (to restart a worker at the same address); implies TCP.</summary>
    public int? Port { get; init; }

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
/// The reference worker as a real child process, on a Unix domain socket in a fresh short temp
/// directory (<c>/tmp/ec-&lt;random&gt;/w.sock</c>) or on a free loopback TCP port. Ready means a
/// Manage heartbeat was answered. Disposing stops it (SIGTERM, then SIGKILL after a bound) and
/// deletes the directory.
/// </summary>
public sealed class ReferenceWorkerProcess : IAsyncDisposable
{
    public const int SigKill = 9;
    public const int SigTerm = 15;
    public const int MaxMessageSize = 128 * 1024 * 1024;

    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Lock _outputLock = new();
    private GrpcChannel? _channel;
    private int _disposed;

    private ReferenceWorkerProcess(Process process, string id, string directory, string? socketPath, int? port)
    {
        Process = process;
        Id = id;
        Directory = directory;
        SocketPath = socketPath;
        Port = port;
        Address = socketPath is not null
            ? "unix://" + socketPath
            : "http://127.0.0.1:" + port!.Value.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The apphost next to the test assembly (the project reference copies it there).</summary>
    public static string ExecutablePath => Path.Combine(AppContext.BaseDirectory, "Engine.ReferenceWorker");

    /// <summary>The started process: the worker, or the shell when started through one.</summary>
    public Process Process { get; }

    public string Id { get; }

    /// <summary>The fresh temp directory (holds the socket for Unix transport).</summary>
    public string Directory { get; }

    public string? SocketPath { get; }

    public int? Port { get; }

    /// <summary><c>unix:///...</c> or <c>http://127.0.0.1:port</c>.</summary>
    public string Address { get; }

    public string Stdout
    {
        get
        {
            lock (_outputLock)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_outputLock)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>A channel to the worker that accepts 128 MiB messages both ways, kept for the process's lifetime.</summary>
    public GrpcChannel Channel => _channel ??= CreateChannel();

    /// <summary>The raw generated client over <see cref="Channel"/>.</summary>
    public UdfWorker.UdfWorkerClient RawClient => new(Channel);

    public static async Task<ReferenceWorkerProcess> StartAsync(ReferenceWorkerStartOptions? options = null)
    {
        options ??= new ReferenceWorkerStartOptions();
        var directory = CreateShortTempDirectory();
        var id = options.Id ?? "test-" + Guid.NewGuid().ToString("N")[..8];
        string? socketPath = null;
        int? port = null;
        string connection;
        if (options.UseTcp || options.Port is not null)
        {
            port = options.Port ?? FreeTcpPort();
            connection = port.Value.ToString(CultureInfo.InvariantCulture);
        }
        else
        {
            socketPath = Path.Combine(directory, "w.sock");
            connection = socketPath;
        }

        options.BeforeStart?.Invoke(directory);
        var arguments = new List<string> { "--id", id, "--connection", connection };
        arguments.AddRange(options.ExtraArguments);

        var info = options.ThroughShell
            ? new ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", "\"$0\" \"$@\" & wait", ExecutablePath } }
            : new ProcessStartInfo(ExecutablePath);
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var worker = new ReferenceWorkerProcess(process, id, directory, socketPath, port);
        process.OutputDataReceived += (_, e) => worker.Append(worker._stdout, e.Data);
        process.ErrorDataReceived += (_, e) => worker.Append(worker._stderr, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        try
        {
            await worker.WaitUntilReadyAsync(options.ReadinessTimeout);
        }
        catch
        {
            await worker.DisposeAsync();
            throw;
        }

        return worker;
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
    public WorkerClient CreateClient() => WorkerClient.Create(Address, new WorkerClientOptions { MaxSendMessageSize = MaxMessageSize });

    /// <summary>A fresh channel that accepts 128 MiB messages both ways; the caller disposes it.</summary>
    public GrpcChannel CreateChannel() => WorkerChannelFactory.Create(
        WorkerAddress.Parse(Address),
        new WorkerClientOptions { MaxSendMessageSize = MaxMessageSize, MaxReceiveMessageSize = MaxMessageSize });

    /// <summary>Sends <paramref name="signal"/> to the started process.</summary>
    public void Signal(int signal)
    {
        if (Kill(Process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({Process.Id}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    /// <summary>Waits for the process to exit (and its output to close); returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await Process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The worker did not exit within {timeout.TotalSeconds} s. {Describe()}");
        }

        return Process.ExitCode;
    }

    /// <summary>
    /// Asks for heartbeats until the worker-wide counter <paramref name="metric"/> satisfies
    /// <paramref name="condition"/>: the way to learn that the worker reached a state it does not
    /// announce on any stream. Each attempt is a real round trip, so this never sleeps.
    /// </summary>
    public async Task WaitForMetricAsync(string metric, Func<long, bool> condition, TimeSpan timeout)
    {
        await using var client = CreateClient();
        using var deadline = new CancellationTokenSource(timeout);
        string? last = null;
        while (!deadline.IsCancellationRequested)
        {
            var heartbeat = await client.HeartbeatAsync(TimeSpan.FromSeconds(5), deadline.Token);
            last = heartbeat.Metrics[metric];
            if (condition(long.Parse(last, CultureInfo.InvariantCulture)))
            {
                return;
            }
        }

        throw new TimeoutException($"The worker's {metric} stayed at {last} for {timeout.TotalSeconds} s. {Describe()}");
    }

    /// <summary>The process's output so far, for assertion messages.</summary>
    public string Describe() => $"stdout: [{Tail(Stdout)}] stderr: [{Tail(Stderr)}]";

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _channel?.Dispose();
        try
        {
            if (!Process.HasExited)
            {
                _ = Kill(Process.Id, SigTerm);
                try
                {
                    await Process.WaitForExitAsync().WaitAsync(StopTimeout);
                }
                catch (TimeoutException)
                {
                    Process.Kill(entireProcessTree: true);
                    await Process.WaitForExitAsync().WaitAsync(StopTimeout);
                }
            }
        }
        finally
        {
            Process.Dispose();
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a leftover directory under /tmp is harmless.
            }
        }
    }

    private Task WaitUntilReadyAsync(TimeSpan timeout) =>
        WorkerReadiness.WaitAsync(Address, Process, timeout, "The reference worker", Describe, TimeSpan.FromMilliseconds(20));

    private void Append(StringBuilder target, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_outputLock)
        {
            target.AppendLine(line);
        }
    }

    private static string Tail(string text) => text.Length <= 2000 ? text.Trim() : "..." + text[^2000..].Trim();

    private static string CreateShortTempDirectory()
    {
        // Short on purpose: Linux limits a socket path to 107 bytes.
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("The reference worker tests need Unix domain sockets and signals.");
        }

        var directory = Path.Combine("/tmp", "ec-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return directory;
    }

    public static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
