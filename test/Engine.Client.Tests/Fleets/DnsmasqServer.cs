using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DnsClient;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Fleets;

/// <summary>
/// A real DNS server for the tests: Debian's dnsmasq on a loopback port, answering from a hosts
/// file (A/AAAA, re-read on SIGHUP) and a configuration file (SRV records, read at start: a change
/// of them restarts the server on the same port). Nothing is forwarded anywhere.
/// </summary>
internal sealed class DnsmasqServer : IAsyncDisposable
{
    public const string Domain = "fleet.test";

    // The ports handed out in this test run (FreePort).
    private static readonly HashSet<int> GivenPorts = [];
    private const int SigHup = 1;

    private readonly string _directory;
    private readonly StringBuilder _log = new();
    private Process? _process;

    private DnsmasqServer(string directory, int port)
    {
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public string HostsFile => Path.Combine(_directory, "hosts");

    public string ConfigFile => Path.Combine(_directory, "dnsmasq.conf");

    public static string Executable => File.Exists("/usr/sbin/dnsmasq") ? "/usr/sbin/dnsmasq" : "dnsmasq";

    /// <summary>Starts with <paramref name="hosts"/> (lines <c>address name</c>) and <paramref name="config"/> (dnsmasq options, one a line).</summary>
    public static async Task<DnsmasqServer> StartAsync(IEnumerable<string> hosts, IEnumerable<string>? config = null)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("dnsmasq runs on Linux.");
        }

        // dnsmasq may drop to another user: it must still read these (mode 0755).
        var directory = Path.Combine("/tmp", "ec-dns-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(directory, (UnixFileMode)0x1ED);
        var server = new DnsmasqServer(directory, FreePort());
        await File.WriteAllLinesAsync(server.HostsFile, hosts);
        await File.WriteAllLinesAsync(server.ConfigFile, config ?? []);
        await server.StartProcessAsync();
        return server;
    }

    /// <summary>Rewrites the hosts file and tells dnsmasq to read it again (SIGHUP).</summary>
    public async Task SetHostsAsync(params string[] lines)
    {
        await File.WriteAllLinesAsync(HostsFile, lines);
        if (Kill(_process!.Id, SigHup) != 0)
        {
            throw new InvalidOperationException("SIGHUP to dnsmasq failed.");
        }
    }

    /// <summary>Rewrites the configuration (SRV records) and restarts dnsmasq on the same port.</summary>
    public async Task SetConfigAsync(params string[] lines)
    {
        await StopProcessAsync();
        await File.WriteAllLinesAsync(ConfigFile, lines);
        await StartProcessAsync();
    }

    /// <summary>The <c>dns://</c> authority of this server.</summary>
    public string Authority => "127.0.0.1:" + Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public string Describe()
    {
        lock (_log)
        {
            return _log.ToString();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopProcessAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task StartProcessAsync()
    {
        var user = Environment.UserName;
        var info = new ProcessStartInfo(Executable)
        {
            ArgumentList =
            {
                "--keep-in-foreground",
                "--log-facility=-",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--port=" + Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--local=/" + Domain + "/",
                "--addn-hosts=" + HostsFile,
                "--conf-file=" + ConfigFile,
                "--pid-file=",
                "--local-ttl=0",
                "--user=" + user,
            },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        _process = process;

        // Ready when it answers a query (each try is a real round trip).
        var lookup = new LookupClient(new LookupClientOptions(new NameServer(IPAddress.Loopback, Port)) { UseCache = false, Timeout = TimeSpan.FromMilliseconds(200), Retries = 0, ThrowDnsErrors = false });
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"dnsmasq exited with {process.ExitCode}: {Describe()}");
            }

            try
            {
                var response = await lookup.QueryAsync("ready." + Domain, QueryType.A);
                if (response.Header.ResponseCode is DnsHeaderResponseCode.NoError or DnsHeaderResponseCode.NotExistentDomain)
                {
                    return;
                }
            }
            catch (DnsResponseException)
            {
                // Not listening yet.
            }
        }

        throw new TimeoutException($"dnsmasq did not answer within 20 s: {Describe()}");
    }

    private async Task StopProcessAsync()
    {
        if (_process is not { } process)
        {
            return;
        }

        _process = null;
        if (!process.HasExited)
        {
            process.Kill();
        }

        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.AppendLine(line);
        }
    }

    /// <summary>
    /// A port free for both UDP and TCP on 127.0.0.1, and never given to another server of this
    /// test run: every server answers for the same domain, so a server started on the port of one
    /// a test stopped would answer that test's fleet (which then rightly clears its resolve error,
    /// as "A DNS server that stops answering" found once when run with the other fleet tests).
    /// </summary>
    private static int FreePort()
    {
        for (var i = 0; i < 50; i++)
        {
            var port = ReferenceWorkerProcess.FreeTcpPort();
            lock (GivenPorts)
            {
                if (!GivenPorts.Add(port))
                {
                    continue;
                }
            }

            try
            {
                using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw new InvalidOperationException("No free port for dnsmasq.");
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
