using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Engine.Client.Workers;

/// <summary>
/// Where a launched worker listens: a socket in a fresh private directory (mode 0700), or a free
/// loopback TCP port. Owns the directory and removes it.
/// </summary>
/// <remarks>
/// On Linux the directory's name says which engine made it:
/// <c>ecw-&lt;pid namespace&gt;-&lt;engine pid&gt;-&lt;engine start time&gt;-XXXXXX</c>, so that
/// <see cref="SweepAbandoned"/> can remove the directories of engines that died without
/// removing them (killed with SIGKILL) and never those of a running engine.
/// </remarks>
internal sealed class WorkerEndpoint
{
    /// <summary>The socket's file name inside its private directory.</summary>
    public const string SocketFileName = "w.sock";

    private const string DirectoryPrefix = "ecw-";
    private const string TemplateSuffix = "XXXXXX";
    private int _removed;

    private WorkerEndpoint(WorkerAddress address, string connectionArgument, string? directory)
    {
        Address = address;
        ConnectionArgument = connectionArgument;
        Directory = directory;
    }

    /// <summary>The address the engine connects to.</summary>
    public WorkerAddress Address { get; }

    /// <summary>What follows <c>--connection</c>: the socket path, or the port number.</summary>
    public string ConnectionArgument { get; }

    /// <summary>The private socket directory, or <see langword="null"/> for TCP.</summary>
    public string? Directory { get; }

    /// <summary>The socket path, or <see langword="null"/> for TCP.</summary>
    public string? SocketPath => Address.SocketPath;

    /// <summary>Creates the endpoint; for a Unix socket, its private directory under <paramref name="socketDirectoryBase"/>.</summary>
    /// <exception cref="WorkerLaunchException">The socket path would be too long, or the directory cannot be created.</exception>
    public static WorkerEndpoint Create(WorkerTransport transport, string socketDirectoryBase, string workerId)
    {
        if (transport == WorkerTransport.Tcp)
        {
            var port = FreeLoopbackPort();
            return new WorkerEndpoint(
                WorkerAddress.ForTcp("127.0.0.1", port),
                port.ToString(CultureInfo.InvariantCulture),
                null);
        }

        var template = Path.Combine(Path.GetFullPath(socketDirectoryBase), DirectoryPrefix + EngineMark.Current + TemplateSuffix);
        var predicted = Path.Combine(template, SocketFileName);
        var bytes = Encoding.UTF8.GetByteCount(predicted);
        if (bytes > WorkerAddress.MaxUnixSocketPathBytes)
        {
            throw new WorkerLaunchException(
                workerId,
                WorkerLaunchFailure.EndpointUnavailable,
                $"Cannot launch worker {workerId}: its socket path under '{socketDirectoryBase}' would be {bytes} bytes ({predicted}); Linux allows at most {WorkerAddress.MaxUnixSocketPathBytes}. Set {nameof(WorkerProcessOptions)}.{nameof(WorkerProcessOptions.SocketDirectory)} to a shorter directory (the default is /tmp).",
                exit: null,
                outputTail: string.Empty,
                innerException: null);
        }

        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Launching workers over Unix domain sockets needs Linux or macOS.");
        }

        string directory;
        try
        {
            directory = NativeMethods.MakePrivateDirectory(template);

            // mkdtemp creates the directory 0700; set it explicitly so nothing (umask, ACL
            // defaults) can leave it wider.
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        catch (IOException ex)
        {
            throw new WorkerLaunchException(
                workerId,
                WorkerLaunchFailure.EndpointUnavailable,
                $"Cannot launch worker {workerId}: its private socket directory under '{socketDirectoryBase}' cannot be created: {ex.Message} Check that the directory exists and is writable, or set {nameof(WorkerProcessOptions)}.{nameof(WorkerProcessOptions.SocketDirectory)}.",
                exit: null,
                outputTail: string.Empty,
                innerException: ex);
        }

        var socketPath = Path.Combine(directory, SocketFileName);
        return new WorkerEndpoint(WorkerAddress.ForUnixSocket(socketPath), socketPath, directory);
    }

    /// <summary>Removes the socket file and its directory. Idempotent; returns the failure, if any, instead of throwing.</summary>
    public Exception? Remove()
    {
        if (Directory is null || Interlocked.Exchange(ref _removed, 1) != 0)
        {
            return null;
        }

        try
        {
            if (System.IO.Directory.Exists(Directory))
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }

            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ex;
        }
    }

    /// <summary>
    /// Removes the socket directories under <paramref name="socketDirectoryBase"/> whose engine is
    /// no longer running: its pid is gone, or now belongs to a process started at another time.
    /// Directories of running engines, of another pid namespace (whose pids cannot be checked
    /// from here), or in another name format are left alone, as is anything that is not a plain
    /// directory. Never throws.
    /// </summary>
    /// <returns>The directories removed, and those that could not be.</returns>
    public static (IReadOnlyList<string> Removed, IReadOnlyList<(string Directory, Exception Error)> Failed) SweepAbandoned(string socketDirectoryBase)
    {
        var removed = new List<string>();
        var failed = new List<(string, Exception)>();
        if (EngineMark.Namespace is not { } ownNamespace)
        {
            return (removed, failed);
        }

        IEnumerable<DirectoryInfo> candidates;
        try
        {
            candidates = new DirectoryInfo(socketDirectoryBase).EnumerateDirectories(DirectoryPrefix + "*").ToList();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.SecurityException)
        {
            return (removed, failed);
        }

        foreach (var directory in candidates)
        {
            if (directory.LinkTarget is not null
                || EngineMark.Parse(directory.Name) is not { } mark
                || mark.Namespace != ownNamespace
                || EngineMark.IsRunning(mark.ProcessId, mark.StartTime))
            {
                continue;
            }

            try
            {
                directory.Delete(recursive: true);
                removed.Add(directory.FullName);
            }
            catch (DirectoryNotFoundException)
            {
                // Another engine's sweep was first.
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                failed.Add((directory.FullName, ex));
            }
        }

        return (removed, failed);
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }
}

/// <summary>
/// The running engine's mark in socket directory names (<c>&lt;pid namespace&gt;-&lt;pid&gt;-&lt;start time&gt;-</c>,
/// the start time in clock ticks since boot, as in <c>/proc/&lt;pid&gt;/stat</c>), and the check
/// whether the engine of a mark still runs. Empty where <c>/proc</c> cannot say (not Linux).
/// </summary>
internal static class EngineMark
{
    private static readonly Lazy<(string Current, long? Namespace)> Own = new(Compute);

    /// <summary>This engine's mark, ending in a dash, or empty.</summary>
    public static string Current => Own.Value.Current;

    /// <summary>This engine's pid namespace (the inode of <c>/proc/self/ns/pid</c>), or <see langword="null"/> when unknown.</summary>
    public static long? Namespace => Own.Value.Namespace;

    /// <summary>Reads a directory name made from a mark (<c>ecw-N-P-T-XXXXXX</c>); <see langword="null"/> for any other.</summary>
    public static (long Namespace, int ProcessId, long StartTime)? Parse(string name)
    {
        var parts = name.Split('-');
        return parts.Length == 5
            && parts[0] == "ecw"
            && parts[4].Length == 6
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ns)
            && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            && long.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            && pid > 0
                ? (ns, pid, start)
                : null;
    }

    /// <summary>
    /// Whether the process <paramref name="pid"/> runs and started at <paramref name="startTime"/>.
    /// When <c>/proc</c> cannot be read for another reason than the process being gone, it is
    /// taken as running: a directory is never removed on a guess.
    /// </summary>
    public static bool IsRunning(int pid, long startTime)
    {
        string stat;
        try
        {
            stat = File.ReadAllText(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/stat"));
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return true;
        }

        return ParseStat(stat) is not { } parsed || (parsed.StartTime == startTime && parsed.State is not ('Z' or 'X'));
    }

    private static (char State, long StartTime)? ParseStat(string stat)
    {
        // Fields after the command name in parentheses (which may hold spaces and parentheses):
        // state is field 3, starttime field 22.
        var close = stat.LastIndexOf(')');
        if (close < 0 || close + 2 >= stat.Length)
        {
            return null;
        }

        var fields = stat[(close + 2)..].Split(' ');
        return fields.Length > 19 && fields[0].Length == 1 && long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            ? (fields[0][0], start)
            : null;
    }

    private static (string, long?) Compute()
    {
        if (!OperatingSystem.IsLinux())
        {
            return (string.Empty, null);
        }

        try
        {
            // "pid:[4026531836]"
            var link = new FileInfo("/proc/self/ns/pid").LinkTarget;
            var open = link?.IndexOf('[', StringComparison.Ordinal) ?? -1;
            if (link is null || open < 0 || !link.EndsWith(']')
                || !long.TryParse(link.AsSpan(open + 1, link.Length - open - 2), NumberStyles.None, CultureInfo.InvariantCulture, out var ns)
                || ParseStat(File.ReadAllText("/proc/self/stat")) is not { } self)
            {
                return (string.Empty, null);
            }

            return (string.Create(CultureInfo.InvariantCulture, $"{ns}-{Environment.ProcessId}-{self.StartTime}-"), ns);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (string.Empty, null);
        }
    }
}
