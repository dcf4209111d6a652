using System.Runtime.InteropServices;
using System.Text;

namespace Engine.Client.Cli.Hosting;

/// <summary>
/// stdout and stderr as engine-client writes them on Unix: through <c>write(2)</c> on the file
/// descriptor, so that a failed write is seen. .NET's console streams drop a write into a closed
/// pipe (EPIPE) silently, and a <see cref="FileStream"/> over descriptor 1 writes at its own
/// offsets (<c>pwrite</c>), which would overwrite what others write to a shared file. .NET ignores
/// SIGPIPE, so a closed pipe is an EPIPE error here, not a signal.
/// </summary>
internal static class StandardStreams
{
    private const int FGetFl = 3;
    private const int AccessModeMask = 3;
    private const int ReadOnly = 0;
    private const int WriteOnly = 1;

    /// <summary>
    /// Whether <paramref name="descriptor"/> is open for writing and was given to the process (not
    /// closed by the caller, <c>&gt;&amp;-</c>). When the caller closed descriptor 1 or 2, the runtime
    /// reuses the number for a pipe of its own (its signal pipe) before any managed code runs:
    /// writing there would feed the runtime garbage. Such a descriptor is read-only, or a pipe
    /// whose read end is open in this same process; both count as closed.
    /// </summary>
    public static bool IsUsable(int descriptor)
    {
        var flags = Fcntl(descriptor, FGetFl);
        if (flags < 0 || (flags & AccessModeMask) == ReadOnly)
        {
            return false;
        }

        return !OperatingSystem.IsLinux() || !IsOwnPipe(descriptor, ReadOnly);
    }

    /// <summary>
    /// Whether stdin (descriptor 0) is open for reading and was given to the process: when the
    /// caller closed it (<c>&lt;&amp;-</c>), the runtime's own pipe may hold the number, and reading
    /// it would steal the runtime's signal notifications.
    /// </summary>
    public static bool IsStandardInputUsable()
    {
        var flags = Fcntl(0, FGetFl);
        if (flags < 0 || (flags & AccessModeMask) == WriteOnly)
        {
            return false;
        }

        return !OperatingSystem.IsLinux() || !IsOwnPipe(0, WriteOnly);
    }

    /// <summary>Whether <paramref name="descriptor"/> is a pipe whose other end (open with <paramref name="otherEndMode"/>) this process also holds.</summary>
    private static bool IsOwnPipe(int descriptor, int otherEndMode)
    {
        try
        {
            var target = new FileInfo($"/proc/self/fd/{descriptor}").LinkTarget;
            if (target is null || !target.StartsWith("pipe:", StringComparison.Ordinal))
            {
                return false;
            }

            foreach (var entry in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            {
                if (!int.TryParse(Path.GetFileName(entry), out var other) || other == descriptor)
                {
                    continue;
                }

                string? otherTarget;
                try
                {
                    otherTarget = new FileInfo(entry).LinkTarget;
                }
                catch (IOException)
                {
                    continue;
                }

                if (string.Equals(otherTarget, target, StringComparison.Ordinal) && Fcntl(other, FGetFl) is var flags && flags >= 0 && (flags & AccessModeMask) == otherEndMode)
                {
                    return true;
                }
            }

            return false;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Fcntl(int descriptor, int command);
}

/// <summary>
/// A write-only stream over a file descriptor, unbuffered: every write goes to <c>write(2)</c> at
/// once and a failure throws <see cref="IOException"/> naming it (a closed pipe, a full disk, a
/// closed descriptor). Writes block while a pipe is full, as the console's do.
/// </summary>
internal sealed class DescriptorStream : Stream
{
    private const int Eintr = 4;
    private const int Ebadf = 9;
    private const int Enospc = 28;
    private const int Epipe = 32;
    private const short PollOut = 4;

    private readonly int _descriptor;
    private readonly string _name;
    private readonly bool _usable;

    /// <param name="descriptor">The descriptor (1 for stdout).</param>
    /// <param name="name">For messages: <c>stdout</c>.</param>
    /// <param name="usable">False when the descriptor is closed (see <see cref="StandardStreams.IsUsable"/>): every write fails.</param>
    public DescriptorStream(int descriptor, string name, bool usable)
    {
        _descriptor = descriptor;
        _name = name;
        _usable = usable;
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (!_usable)
        {
            throw new IOException($"{_name} is closed (its file descriptor is not open for writing)");
        }

        while (!buffer.IsEmpty)
        {
            var written = SysWrite(_descriptor, ref MemoryMarshal.GetReference(buffer), buffer.Length);
            if (written >= 0)
            {
                buffer = buffer[(int)written..];
                continue;
            }

            var error = Marshal.GetLastPInvokeError();
            if (error == Eintr)
            {
                continue;
            }

            if (IsWouldBlock(error))
            {
                // A descriptor someone made non-blocking: wait until it takes more.
                var poll = new PollDescriptor { Descriptor = _descriptor, Events = PollOut };
                _ = SysPoll(ref poll, 1, -1);
                continue;
            }

            throw new IOException(Describe(error), error);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // A blocking write on a pool thread, as the console's own stream does.
        cancellationToken.ThrowIfCancellationRequested();
        return new ValueTask(Task.Run(() => Write(buffer.Span), cancellationToken));
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private static bool IsWouldBlock(int error) => error == (OperatingSystem.IsLinux() ? 11 : 35);

    private string Describe(int error) => error switch
    {
        Epipe => $"the reader of {_name} closed it (broken pipe)",
        Enospc => $"no space left on the device {_name} writes to",
        Ebadf => $"{_name} is closed (bad file descriptor)",
        _ => $"{Marshal.GetPInvokeErrorMessage(error)} (errno {error})",
    };

    [DllImport("libc", EntryPoint = "write", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern nint SysWrite(int descriptor, ref byte buffer, nint count);

    [DllImport("libc", EntryPoint = "poll", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SysPoll(ref PollDescriptor descriptors, nuint count, int timeout);

    [StructLayout(LayoutKind.Sequential)]
    private struct PollDescriptor
    {
        public int Descriptor;
        public short Events;
        public short Returned;
    }
}

/// <summary>
/// A text writer that never throws: the first failed write is kept in <see cref="Failure"/> and
/// every later write is dropped. stdout's text goes through one (the command's exit code then says
/// that its output is incomplete, see <see cref="CliApp"/>), and stderr's (diagnostics are best
/// effort: a closed stderr must not change what the command does or the code it exits with).
/// Thread-safe; writes are synchronous, as the console's are.
/// </summary>
internal sealed class FailSafeWriter : TextWriter
{
    private readonly TextWriter _inner;
    private readonly Lock _gate = new();
    private volatile Exception? _failure;

    public FailSafeWriter(Stream stream)
    {
        _inner = new StreamWriter(stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), bufferSize: 4096, leaveOpen: true) { AutoFlush = true };
    }

    /// <summary>The first write that failed, or <see langword="null"/>.</summary>
    public Exception? Failure => _failure;

    public override Encoding Encoding => _inner.Encoding;

    public override void Write(char value) => Guard(() => _inner.Write(value));

    public override void Write(char[] buffer, int index, int count) => Guard(() => _inner.Write(buffer, index, count));

    public override void Write(string? value) => Guard(() => _inner.Write(value));

    public override void WriteLine() => Guard(_inner.WriteLine);

    public override void WriteLine(string? value) => Guard(() => _inner.WriteLine(value));

    public override Task WriteAsync(char value)
    {
        Write(value);
        return Task.CompletedTask;
    }

    public override Task WriteAsync(string? value)
    {
        Write(value);
        return Task.CompletedTask;
    }

    public override Task WriteAsync(char[] buffer, int index, int count)
    {
        Write(buffer, index, count);
        return Task.CompletedTask;
    }

    public override Task WriteAsync(ReadOnlyMemory<char> buffer, CancellationToken cancellationToken = default)
    {
        var text = buffer.ToString();
        Write(text);
        return Task.CompletedTask;
    }

    public override Task WriteLineAsync()
    {
        WriteLine();
        return Task.CompletedTask;
    }

    public override Task WriteLineAsync(char value)
    {
        Write(value);
        WriteLine();
        return Task.CompletedTask;
    }

    public override Task WriteLineAsync(string? value)
    {
        WriteLine(value);
        return Task.CompletedTask;
    }

    public override Task WriteLineAsync(char[] buffer, int index, int count)
    {
        Write(buffer, index, count);
        WriteLine();
        return Task.CompletedTask;
    }

    public override Task WriteLineAsync(ReadOnlyMemory<char> buffer, CancellationToken cancellationToken = default)
    {
        WriteLine(buffer.ToString());
        return Task.CompletedTask;
    }

    public override void Flush() => Guard(_inner.Flush);

    public override Task FlushAsync()
    {
        Flush();
        return Task.CompletedTask;
    }

    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        Flush();
        return Task.CompletedTask;
    }

    private void Guard(Action write)
    {
        lock (_gate)
        {
            if (_failure is not null)
            {
                return;
            }

            try
            {
                write();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException or NotSupportedException)
            {
                _failure = ex;
            }
        }
    }
}

/// <summary>A stdin that was closed: every read fails with <see cref="IOException"/> saying so.</summary>
internal sealed class ClosedInputStream(string message) : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new IOException(message);

    public override int Read(Span<byte> buffer) => throw new IOException(message);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => throw new IOException(message);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => throw new IOException(message);

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
