using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.Workers;

namespace Engine.Client.Tests.GrpcCore;

/// <summary>
/// The gRPC-core worker (<c>test/workers/python/worker.py</c> on Debian's <c>python3-grpcio</c>) as
/// a real child process, on a Unix domain socket in a fresh short temp directory or on a free
/// loopback TCP port. Ready means a Manage heartbeat was answered. Disposing stops it (SIGTERM,
/// then SIGKILL after a bound) and deletes the directory.
/// </summary>
public sealed class PythonWorkerProcess : IAsyncDisposable
{
    /// <summary>The system Python: a <c>python3</c> first on PATH (pyenv, a venv) may not see Debian's modules.</summary>
    public const string Python = "/usr/bin/python3";

    private const int SigTerm = 15;
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ReadinessTimeout = TimeSpan.FromSeconds(30);

    private readonly StringBuilder _output = new();
    private readonly Lock _outputLock = new();
    private int _disposed;

    private PythonWorkerProcess(Process process, string id, string directory, string address)
    {
        Process = process;
        Id = id;
        Directory = directory;
        Address = address;
    }

    /// <summary>The worker script in the repository.</summary>
    public static string Script => Path.Combine(Specs.RepositoryRoot(), "test", "workers", "python", "worker.py");

    public Process Process { get; }

    public string Id { get; }

    /// <summary>The fresh temp directory (holds the socket for Unix transport).</summary>
    public string Directory { get; }

    /// <summary><c>unix:///...</c> or <c>http://127.0.0.1:port</c>.</summary>
    public string Address { get; }

    /// <summary>
    /// Starts the worker and waits for its first heartbeat answer.
    /// </summary>
    /// <param name="tcp">Listen on a free loopback TCP port instead of a Unix domain socket.</param>
    /// <param name="serverOptions">gRPC server channel arguments (<c>--option NAME=VALUE</c>), for example the keepalive enforcement.</param>
    public static async Task<PythonWorkerProcess> StartAsync(bool tcp = false, params string[] serverOptions)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("The gRPC-core worker tests need Unix domain sockets and signals.");
        }

        // Short on purpose: Linux limits a socket path to 107 bytes.
        var directory = Path.Combine("/tmp", "ecpy-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var id = "py-" + Guid.NewGuid().ToString("N")[..8];
        string connection, address;
        if (tcp)
        {
            connection = FreeTcpPort().ToString(CultureInfo.InvariantCulture);
            address = "http://127.0.0.1:" + connection;
        }
        else
        {
            connection = Path.Combine(directory, "w.sock");
            address = "unix://" + connection;
        }

        var info = new ProcessStartInfo(Python)
        {
            ArgumentList = { Script, "--id", id, "--connection", connection },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var option in serverOptions)
        {
            info.ArgumentList.Add("--option");
            info.ArgumentList.Add(option);
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var worker = new PythonWorkerProcess(process, id, directory, address);
        process.OutputDataReceived += (_, e) => worker.Append(e.Data);
        process.ErrorDataReceived += (_, e) => worker.Append(e.Data);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            System.IO.Directory.Delete(directory, recursive: true);
            throw new InvalidOperationException($"{Python} cannot be started ({ex.Message}): install python3, python3-grpcio, python3-protobuf and protobuf-compiler (.ci/run does).", ex);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await worker.WaitUntilReadyAsync();
        }
        catch
        {
            await worker.DisposeAsync();
            throw;
        }

        return worker;
    }

    /// <summary>A fresh SDK client for the worker; the caller disposes it.</summary>
    public WorkerClient CreateClient(WorkerClientOptions? options = null) => WorkerClient.Create(Address, options);

    /// <summary>What the process printed so far (stdout and stderr), for assertion messages.</summary>
    public string Describe()
    {
        lock (_outputLock)
        {
            var text = _output.ToString().Trim();
            return $"worker output: [{(text.Length <= 3000 ? text : "..." + text[^3000..])}]";
        }
    }

    /// <summary>
    /// Asks for heartbeats until the worker-wide counter <paramref name="metric"/> satisfies
    /// <paramref name="condition"/>. Each attempt is a real round trip, so this never sleeps.
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

    /// <summary>Waits for the process to exit; returns its exit code.</summary>
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

    private Task WaitUntilReadyAsync() =>
        WorkerReadiness.WaitAsync(Address, Process, ReadinessTimeout, "The Python worker", Describe, TimeSpan.FromMilliseconds(50));

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_outputLock)
        {
            _output.AppendLine(line);
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
