using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Engine.Client.Testing;

/// <summary>How to start a <see cref="WorkerChildProcess"/>.</summary>
public sealed record WorkerLaunch
{
    /// <summary>The program: a worker's apphost, or an interpreter.</summary>
    public required string FileName { get; init; }

    /// <summary>Arguments before <c>--id</c> and <c>--connection</c> (an interpreter's script).</summary>
    public IReadOnlyList<string> LeadingArguments { get; init; } = [];

    /// <summary>Arguments after <c>--id</c> and <c>--connection</c>.</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>For messages: "The reference worker", "The Python worker".</summary>
    public string Name { get; init; } = "The worker";

    /// <summary>The worker id (<c>--id</c>); default the prefix and 8 random hex digits.</summary>
    public string? Id { get; init; }

    /// <summary>Prefix of a generated id.</summary>
    public string IdPrefix { get; init; } = "test-";

    /// <summary>Prefix of the socket directory's name under /tmp (short: Linux limits a socket path to 107 bytes).</summary>
    public string DirectoryPrefix { get; init; } = "ec-";

    /// <summary>Listen on a free loopback TCP port instead of a Unix domain socket.</summary>
    public bool UseTcp { get; init; }

    /// <summary>
    /// Start the worker through <c>sh -c '&lt;worker&gt; ... &amp; wait'</c>, so the shell is its
    /// parent (for parent-death tests). <see cref="WorkerChildProcess.Process"/> is then the shell.
    /// </summary>
    public bool ThroughShell { get; init; }

    /// <summary>Environment variables added to the worker's.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>Called with the socket directory before the worker starts (for example to plant a stale socket file).</summary>
    public Action<string>? BeforeStart { get; init; }

    /// <summary>How long to wait for the first heartbeat answer.</summary>
    public TimeSpan ReadinessTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>The spacing of readiness attempts: until the worker listens, attempts fail at once.</summary>
    public TimeSpan ReadinessPeriod { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Added to the message when the program cannot be started at all (what to install).</summary>
    public string? StartFailureHint { get; init; }
}

/// <summary>
/// A worker as a real child process, the one launcher of the tests and the benchmarks: on a Unix
/// domain socket in a fresh short directory (<c>/tmp/&lt;prefix&gt;&lt;random&gt;/w.sock</c>) or on
/// a free loopback TCP port, with its output kept for messages. Ready means a Manage heartbeat was
/// answered (a socket file alone proves nothing). Disposing stops it (SIGTERM, then SIGKILL after a
/// bound) and deletes the directory.
/// </summary>
public sealed class WorkerChildProcess : IAsyncDisposable
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Lock _outputLock = new();
    private readonly string _name;
    private int _disposed;

    private WorkerChildProcess(Process process, string name, string id, string directory, string? socketPath, int? port)
    {
        Process = process;
        _name = name;
        Id = id;
        Directory = directory;
        SocketPath = socketPath;
        Port = port;
        Address = socketPath is not null
            ? "unix://" + socketPath
            : "http://127.0.0.1:" + port!.Value.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>The started process: the worker, or the shell when started through one.</summary>
    public Process Process { get; }

    public string Id { get; }

    /// <summary>The fresh directory under /tmp (holds the socket for the Unix transport).</summary>
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

    /// <summary>Starts the worker and waits for its first heartbeat answer; on failure nothing is left running.</summary>
    /// <exception cref="InvalidOperationException">The program could not be started, or exited before it answered.</exception>
    /// <exception cref="TimeoutException">No answer within <see cref="WorkerLaunch.ReadinessTimeout"/>.</exception>
    public static async Task<WorkerChildProcess> StartAsync(WorkerLaunch launch)
    {
        ArgumentNullException.ThrowIfNull(launch);
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Worker processes here need Unix domain sockets and signals.");
        }

        var directory = Path.Combine("/tmp", launch.DirectoryPrefix + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var id = launch.Id ?? launch.IdPrefix + Guid.NewGuid().ToString("N")[..8];
        string? socketPath = null;
        int? port = null;
        string connection;
        if (launch.UseTcp)
        {
            port = FreeTcpPort();
            connection = port.Value.ToString(CultureInfo.InvariantCulture);
        }
        else
        {
            socketPath = Path.Combine(directory, "w.sock");
            connection = socketPath;
        }

        launch.BeforeStart?.Invoke(directory);
        var info = launch.ThroughShell
            ? new ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", "\"$0\" \"$@\" & wait", launch.FileName } }
            : new ProcessStartInfo(launch.FileName);
        foreach (var argument in launch.LeadingArguments.Concat(["--id", id, "--connection", connection]).Concat(launch.ExtraArguments))
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in launch.Environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var worker = new WorkerChildProcess(process, launch.Name, id, directory, socketPath, port);
        process.OutputDataReceived += (_, e) => worker.Append(worker._stdout, e.Data);
        process.ErrorDataReceived += (_, e) => worker.Append(worker._stderr, e.Data);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            process.Dispose();
            System.IO.Directory.Delete(directory, recursive: true);
            throw new InvalidOperationException($"{launch.Name} ({launch.FileName}) cannot be started: {ex.Message}. {launch.StartFailureHint}".TrimEnd(), ex);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await worker.WaitUntilReadyAsync(launch.ReadinessTimeout, launch.ReadinessPeriod);
        }
        catch
        {
            await worker.DisposeAsync();
            throw;
        }

        return worker;
    }

    /// <summary>A free loopback TCP port (the listener that found it is closed again).</summary>
    public static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

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
            throw new TimeoutException($"{_name} did not exit within {timeout.TotalSeconds} s. {Describe()}");
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
        await using var client = WorkerClient.Create(Address);
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

        throw new TimeoutException($"{_name}'s {metric} stayed at {last} for {timeout.TotalSeconds} s. {Describe()}");
    }

    /// <summary>The process's output so far, for assertion messages.</summary>
    public string Describe() => $"stdout: [{Tail(Stdout)}] stderr: [{Tail(Stderr)}]";

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

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

    private async Task WaitUntilReadyAsync(TimeSpan timeout, TimeSpan period)
    {
        using var client = WorkerClient.Create(Address);
        using var deadline = new CancellationTokenSource(timeout);
        using var timer = new PeriodicTimer(period);
        Exception? last = null;
        while (!deadline.IsCancellationRequested)
        {
            if (Process.HasExited)
            {
                // Let the output pipes drain so the message shows why it exited.
                await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
                throw new InvalidOperationException($"{_name} exited with code {Process.ExitCode} before it answered a heartbeat. {Describe()}");
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

        throw new TimeoutException($"{_name} did not answer a heartbeat within {timeout.TotalSeconds} s (last error: {last?.Message}). {Describe()}");
    }

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

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
