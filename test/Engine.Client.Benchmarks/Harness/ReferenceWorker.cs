using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

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
/// The reference worker as a real child process: on a Unix domain socket in a fresh short
/// directory, or on a free loopback TCP port. Ready means a Manage heartbeat was answered.
/// Disposing stops it with SIGTERM (SIGKILL after a bound) and removes the directory.
/// </summary>
public sealed class ReferenceWorker : IAsyncDisposable
{
    private const int SigTerm = 15;
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly StringBuilder _stderr = new();
    private readonly Lock _outputLock = new();
    private readonly string _directory;

    private ReferenceWorker(Process process, string directory, BenchTransport transport, string address, string? socketPath, int? port)
    {
        Process = process;
        _directory = directory;
        Transport = transport;
        Address = address;
        SocketPath = socketPath;
        Port = port;
    }

    /// <summary>The worker's apphost, copied next to this assembly by the project reference.</summary>
    public static string ExecutablePath => Path.Combine(AppContext.BaseDirectory, "Engine.ReferenceWorker");

    public Process Process { get; }

    public BenchTransport Transport { get; }

    /// <summary><c>unix:///...</c> or <c>http://127.0.0.1:port</c>.</summary>
    public string Address { get; }

    public string? SocketPath { get; }

    public int? Port { get; }

    /// <summary>The worker's peak resident set so far (VmHWM), in bytes; 0 when unknown.</summary>
    public long PeakWorkingSet => ProcStatus.Read(Process.Id, "VmHWM");

    /// <summary>Starts a worker and waits until it answers a heartbeat.</summary>
    /// <param name="transport">Where it listens.</param>
    /// <param name="extraArguments">Worker flags added after <c>--id</c> and <c>--connection</c>.</param>
    /// <param name="environment">Environment variables for the worker process (for example GC settings).</param>
    public static async Task<ReferenceWorker> StartAsync(
        BenchTransport transport,
        IReadOnlyList<string>? extraArguments = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        if (!File.Exists(ExecutablePath))
        {
            throw new FileNotFoundException($"The reference worker is not next to the harness at {ExecutablePath}; build the benchmark project first.");
        }

        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("The end-to-end harness needs Unix domain sockets and signals.");
        }

        var directory = Path.Combine("/tmp", "ecb-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string connection, address;
        string? socketPath = null;
        int? port = null;
        if (transport == BenchTransport.Tcp)
        {
            port = FreeTcpPort();
            connection = port.Value.ToString(CultureInfo.InvariantCulture);
            address = "http://127.0.0.1:" + connection;
        }
        else
        {
            socketPath = Path.Combine(directory, "w.sock");
            connection = socketPath;
            address = "unix://" + socketPath;
        }

        var info = new ProcessStartInfo(ExecutablePath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("--id");
        info.ArgumentList.Add("bench-" + transport.ToString().ToLowerInvariant());
        info.ArgumentList.Add("--connection");
        info.ArgumentList.Add(connection);
        foreach (var argument in extraArguments ?? [])
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var worker = new ReferenceWorker(process, directory, transport, address, socketPath, port);
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => worker.AppendError(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await worker.WaitUntilReadyAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch
        {
            await worker.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return worker;
    }

    /// <summary>The worker's stderr so far (its warnings and errors).</summary>
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

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!Process.HasExited)
            {
                _ = Kill(Process.Id, SigTerm);
                try
                {
                    await Process.WaitForExitAsync().WaitAsync(StopTimeout).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    Process.Kill(entireProcessTree: true);
                    await Process.WaitForExitAsync().WaitAsync(StopTimeout).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            Process.Dispose();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // A leftover directory under /tmp is harmless.
            }
        }
    }

    private async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        using var client = WorkerClient.Create(Address);
        using var deadline = new CancellationTokenSource(timeout);
        using var period = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        Exception? last = null;
        while (!deadline.IsCancellationRequested)
        {
            if (Process.HasExited)
            {
                await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
                throw new InvalidOperationException($"The reference worker exited with code {Process.ExitCode} before it answered a heartbeat: {Stderr}");
            }

            try
            {
                await client.HeartbeatAsync(TimeSpan.FromSeconds(2), deadline.Token).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is WorkerTransportException or OperationCanceledException)
            {
                last = ex;
            }

            try
            {
                await period.WaitForNextTickAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        throw new TimeoutException($"The reference worker did not answer a heartbeat within {timeout.TotalSeconds} s (last error: {last?.Message}): {Stderr}");
    }

    private void AppendError(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_outputLock)
        {
            if (_stderr.Length < 64 * 1024)
            {
                _stderr.AppendLine(line);
            }
        }
    }

    private static int FreeTcpPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
