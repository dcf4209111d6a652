using System.Runtime.Versioning;
using System.Diagnostics;
using Engine.Client.Protocol;

namespace Engine.Client.Tests.Workers;

/// <summary>A temporary directory for scripts, marker files and specifications; removed on dispose.</summary>
[UnsupportedOSPlatform("windows")]
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        // Short and under /tmp: some tests put sockets here.
        Path = Directory.CreateTempSubdirectory("ect-").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Writes an executable /bin/sh script and returns its path.</summary>
    public string Script(string name, string body)
    {
        var path = File(name);
        System.IO.File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        System.IO.File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    /// <summary>Creates a named pipe: a reader blocks until a writer comes, which makes it a gate between a script and the test.</summary>
    public string Fifo(string name)
    {
        var path = File(name);
        using var mkfifo = Process.Start(new ProcessStartInfo("mkfifo") { ArgumentList = { path } })!;
        mkfifo.WaitForExit();
        Assert.That(mkfifo.ExitCode, Is.Zero, "mkfifo failed");
        return path;
    }

    public string? ReadOrNull(string name) => System.IO.File.Exists(File(name)) ? System.IO.File.ReadAllText(File(name)) : null;

    public int LineCount(string name) => System.IO.File.Exists(File(name)) ? System.IO.File.ReadAllLines(File(name)).Length : 0;

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class Specs
{
    public static UDFWorkerSpecification Direct(
        IEnumerable<string> command,
        int? initializationTimeoutMs = null,
        int? gracefulTerminationTimeoutMs = null,
        bool tcp = false,
        IEnumerable<string>? arguments = null,
        IDictionary<string, string>? environment = null)
    {
        var properties = new UDFWorkerProperties
        {
            Connection = tcp
                ? new WorkerConnectionSpec { Tcp = new LocalTcpConnection() }
                : new WorkerConnectionSpec { UnixDomainSocket = new UnixDomainSocket() },
        };
        if (initializationTimeoutMs is { } init)
        {
            properties.InitializationTimeoutMs = init;
        }

        if (gracefulTerminationTimeoutMs is { } grace)
        {
            properties.GracefulTerminationTimeoutMs = grace;
        }

        var runner = new ProcessCallable();
        runner.Command.AddRange(command);
        if (arguments is not null)
        {
            runner.Arguments.AddRange(arguments);
        }

        if (environment is not null)
        {
            runner.EnvironmentVariables.Add(environment);
        }

        return new UDFWorkerSpecification
        {
            Capabilities = new WorkerCapabilities
            {
                SupportedDataFormats = { UDFWorkerDataFormat.Arrow },
                SupportedCommunicationPatterns = { UDFProtoCommunicationPattern.BidirectionalStreaming },
                SupportsConcurrentUdfs = true,
                SupportsReuse = true,
            },
            Direct = new DirectWorker { Runner = runner, Properties = properties },
        };
    }

    public static ProcessCallable Callable(params string[] command)
    {
        var callable = new ProcessCallable();
        callable.Command.AddRange(command);
        return callable;
    }

    /// <summary>Walks up from the test output to the repository root (where Engine.Client.sln is).</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Engine.Client.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Engine.Client.sln not found above " + AppContext.BaseDirectory);
    }
}

[UnsupportedOSPlatform("windows")]
internal static class Processes
{
    /// <summary>Live processes (other than this one) whose command line names <paramref name="directory"/>.</summary>
    public static int[] CommandLineNames(string directory) =>
    [
        .. Directory.GetDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : -1)
            .Where(pid => pid > 0 && pid != Environment.ProcessId && IsAlive(pid) && CommandLine(pid).Contains(directory, StringComparison.Ordinal)),
    ];

    /// <summary>A process's command line with its arguments separated by spaces; empty once it is gone.</summary>
    public static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }

    /// <summary>Whether a process exists and is not a zombie (a zombie has exited; only its entry remains).</summary>
    public static bool IsAlive(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return false;
        }

        var state = stat[(stat.LastIndexOf(')') + 2)..][0];
        return state is not ('Z' or 'X');
    }

    public static int ReadPid(string path) => int.Parse(File.ReadAllText(path).Trim(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Waits until a process that need not be ours has exited (a zombie counts as exited), through
    /// a pidfd, which becomes readable when the process ends: no polling. False at the timeout.
    /// </summary>
    public static Task<bool> WaitForExitAsync(int pid, TimeSpan timeout) => Task.Run(() =>
    {
        var fd = PidfdOpen(pid, 0);
        if (fd < 0)
        {
            var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            return errno == 3 ? true : throw new InvalidOperationException($"pidfd_open({pid}) failed with errno {errno}.");
        }

        try
        {
            var poll = new PollFd { Fd = fd, Events = 1 };
            var ready = Poll(ref poll, 1, (int)timeout.TotalMilliseconds);
            return ready > 0 || !IsAlive(pid);
        }
        finally
        {
            _ = Close(fd);
        }
    });

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "pidfd_open", SetLastError = true)]
    private static extern int PidfdOpen(int pid, uint flags);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static extern int Poll(ref PollFd fds, ulong count, int timeoutMs);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);
}
