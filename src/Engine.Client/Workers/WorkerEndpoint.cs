using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Engine.Client.Workers;

/// <summary>
/// Where a launched worker listens: a socket in a fresh private directory (mode 0700), or a free
/// loopback TCP port. Owns the directory and removes it.
/// </summary>
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

        var template = Path.Combine(Path.GetFullPath(socketDirectoryBase), DirectoryPrefix + TemplateSuffix);
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

    private static int FreeLoopbackPort()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }
}
