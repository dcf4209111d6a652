using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading.Channels;

namespace Engine.Client.Tests.Cli;

/// <summary>What a finished engine-client process left behind.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr, byte[] StdoutBytes)
{
    /// <summary>The stderr lines, without empty ones.</summary>
    public IReadOnlyList<string> StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public override string ToString() => $"exit {ExitCode}; stdout: [{Tail(Stdout)}] stderr: [{Tail(Stderr)}]";

    private static string Tail(string text) => text.Length <= 3000 ? text.Trim() : "..." + text[^3000..].Trim();
}

/// <summary>
/// The engine-client tool as a real process (its apphost, copied to the test output by the
/// project reference). stdout is read as bytes and as lines, so a test can wait for a line, or
/// keep binary Arrow output.
/// </summary>
public sealed class CliProcess : IAsyncDisposable
{
    public const int SigInt = 2;
    public const int SigTerm = 15;

    /// <summary>Bound on a whole CLI run in tests.</summary>
    public static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(45);

    private readonly Process _process;
    private readonly MemoryStream _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly Channel<string> _stderrLines = Channel.CreateUnbounded<string>();
    private readonly Lock _gate = new();
    private readonly Task _stdoutPump;
    private readonly Task _stderrPump;

    private CliProcess(Process process)
    {
        _process = process;
        _stdoutPump = PumpStdoutAsync();
        _stderrPump = PumpStderrAsync();
    }

    public static string ExecutablePath => Path.Combine(AppContext.BaseDirectory, "Engine.Client.Cli");

    public int Id => _process.Id;

    /// <summary>stdin, when started with <c>redirectStdin</c>.</summary>
    public Stream StandardInput => _process.StandardInput.BaseStream;

    public string Stderr
    {
        get
        {
            lock (_gate)
            {
                return _stderr.ToString();
            }
        }
    }

    public static CliProcess Start(IEnumerable<string> arguments, bool redirectStdin = false)
    {
        var info = new ProcessStartInfo(ExecutablePath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectStdin,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return new CliProcess(Process.Start(info) ?? throw new InvalidOperationException("engine-client did not start."));
    }

    /// <summary>Runs engine-client to its exit.</summary>
    public static async Task<CliResult> RunAsync(params string[] arguments)
    {
        await using var process = Start(arguments);
        return await process.WaitForExitAsync(RunTimeout);
    }

    /// <summary>Waits for a stdout line that satisfies <paramref name="predicate"/>; returns it.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await foreach (var line in _lines.Reader.ReadAllAsync(deadline.Token))
            {
                if (predicate(line))
                {
                    return line;
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            throw new TimeoutException($"engine-client printed no such line within {timeout.TotalSeconds} s. stderr: [{Stderr}]");
        }

        throw new InvalidOperationException($"engine-client closed stdout before printing such a line. stderr: [{Stderr}]");
    }

    /// <summary>Waits for a stderr line that satisfies <paramref name="predicate"/>; returns it.</summary>
    public async Task<string> WaitForStderrLineAsync(Func<string, bool> predicate, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await foreach (var line in _stderrLines.Reader.ReadAllAsync(deadline.Token))
            {
                if (predicate(line))
                {
                    return line;
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            throw new TimeoutException($"engine-client printed no such line on stderr within {timeout.TotalSeconds} s. stderr: [{Stderr}]");
        }

        throw new InvalidOperationException($"engine-client closed stderr before printing such a line. stderr: [{Stderr}]");
    }

    /// <summary>Sends <paramref name="signal"/> to the process.</summary>
    public void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    /// <summary>Waits for the exit and for both output streams to close.</summary>
    public async Task<CliResult> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await Task.WhenAll(_process.WaitForExitAsync(), _stdoutPump, _stderrPump).WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"engine-client did not exit within {timeout.TotalSeconds} s. stderr: [{Stderr}]");
        }

        byte[] bytes;
        lock (_gate)
        {
            bytes = _stdout.ToArray();
        }

        return new CliResult(_process.ExitCode, Encoding.UTF8.GetString(bytes), Stderr, bytes);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        _process.Dispose();
    }

    private async Task PumpStdoutAsync()
    {
        var stream = _process.StandardOutput.BaseStream;
        var buffer = new byte[16 * 1024];
        var line = new List<byte>();
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            lock (_gate)
            {
                _stdout.Write(buffer, 0, read);
            }

            for (var i = 0; i < read; i++)
            {
                if (buffer[i] == (byte)'\n')
                {
                    _lines.Writer.TryWrite(Encoding.UTF8.GetString([.. line]).TrimEnd('\r'));
                    line.Clear();
                }
                else
                {
                    line.Add(buffer[i]);
                }
            }
        }

        _lines.Writer.TryComplete();
    }

    private async Task PumpStderrAsync()
    {
        var reader = _process.StandardError;
        var buffer = new char[4096];
        var line = new StringBuilder();
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            lock (_gate)
            {
                _stderr.Append(buffer, 0, read);
            }

            for (var i = 0; i < read; i++)
            {
                if (buffer[i] == '\n')
                {
                    _stderrLines.Writer.TryWrite(line.ToString().TrimEnd('\r'));
                    line.Clear();
                }
                else
                {
                    line.Append(buffer[i]);
                }
            }
        }

        _stderrLines.Writer.TryComplete();
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
