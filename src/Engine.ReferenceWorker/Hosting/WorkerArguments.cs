using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Engine.ReferenceWorker.Hosting;

/// <summary>Where the worker listens: a Unix domain socket path or a TCP port (on loopback unless <see cref="WorkerArguments.ListenAddress"/> says otherwise).</summary>
internal sealed record WorkerConnection(string? SocketPath, int? Port)
{
    public override string ToString() => SocketPath ?? Port!.Value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Deviations from the worker process contract, for proving the conformance kit's process checks (<c>--fault</c>).</summary>
internal enum ProcessFault
{
    None,

    /// <summary>Fails with exit code 2 on a flag it does not know, as a strict parser does.</summary>
    RejectUnknownFlags,

    /// <summary>Does not watch its parent: keeps running when the process that started it dies.</summary>
    IgnoreParentDeath,
}

/// <summary>
/// The worker's command line. The engine always appends <c>--id &lt;id&gt; --connection &lt;address&gt;</c>
/// (docs/protocol.md, worker specification); every other flag is optional and specific to this worker.
/// A flag it does not know is ignored (<see cref="IgnoredArguments"/>, with a warning on stderr), as
/// docs/protocol.md recommends, since a later engine may pass more flags; a known flag with a bad
/// value is an error.
/// </summary>
internal sealed class WorkerArguments
{
    public const int DefaultMaxMessageSize = 128 * 1024 * 1024;
    public static readonly TimeSpan DefaultTerminatorGrace = TimeSpan.FromSeconds(2);
    public const long DefaultOutputBufferBytes = 16L * 1024 * 1024;

    /// <summary>HTTP/2 connection receive window (Kestrel <c>InitialConnectionWindowSize</c>).</summary>
    public const int DefaultHttp2ConnectionWindow = 16 * 1024 * 1024;

    /// <summary>HTTP/2 stream receive window (Kestrel <c>InitialStreamWindowSize</c>).</summary>
    public const int DefaultHttp2StreamWindow = 4 * 1024 * 1024;

    /// <summary>Largest HTTP/2 frame the worker accepts (Kestrel <c>MaxFrameSize</c>; the protocol's minimum is 16 KiB).</summary>
    public const int DefaultHttp2MaxFrameSize = 16 * 1024;

    public const string Usage =
        "usage: Engine.ReferenceWorker --id <id> --connection <socket path|port> " +
        "[--max-message-size <bytes>] [--terminator-grace-ms <ms>] [--output-buffer-bytes <bytes>] " +
        "[--http2-connection-window <bytes>] [--http2-stream-window <bytes>] [--http2-max-frame-size <bytes>] " +
        "[--listen-address <ip>] [--tls-certificate <pem> [--tls-key <pem>] [--tls-client-ca <pem>]] [--batch-delay-ms <ms>] [--echo-authorization] [--verbose] " +
        "[--fault reject-unknown-flags|ignore-parent-death]";

    public required string Id { get; init; }

    public required WorkerConnection Connection { get; init; }

    /// <summary>Largest gRPC message received and sent, in bytes (both directions).</summary>
    public int MaxMessageSize { get; init; } = DefaultMaxMessageSize;

    /// <summary>
    /// How long a stream stays open after its terminator waiting for the engine to half-close
    /// (the engine may still send a Cancel after Finish); after that the call ends anyway.
    /// </summary>
    public TimeSpan TerminatorGrace { get; init; } = DefaultTerminatorGrace;

    /// <summary>
    /// Output a stream may queue before its UDF waits for the engine to read. Enough for several
    /// batches of the usual sizes (one larger batch always passes), so an engine may send ahead
    /// before reading; bounded, because it is held per stream, times every concurrent stream.
    /// </summary>
    public long OutputBufferBytes { get; init; } = DefaultOutputBufferBytes;

    /// <summary>HTTP/2 connection receive window, in bytes: how much the engine may send ahead on all streams.</summary>
    public int Http2ConnectionWindow { get; init; } = DefaultHttp2ConnectionWindow;

    /// <summary>HTTP/2 stream receive window, in bytes: how much the engine may send ahead on one stream.</summary>
    public int Http2StreamWindow { get; init; } = DefaultHttp2StreamWindow;

    /// <summary>Largest HTTP/2 frame payload the worker accepts, in bytes.</summary>
    public int Http2MaxFrameSize { get; init; } = DefaultHttp2MaxFrameSize;

    /// <summary>The IP address a TCP port is served on; <see langword="null"/> for both loopbacks (127.0.0.1 and ::1).</summary>
    public System.Net.IPAddress? ListenAddress { get; init; }

    /// <summary>PEM file of the server certificate: TCP is served over TLS when set.</summary>
    public string? TlsCertificateFile { get; init; }

    /// <summary>PEM file of the server certificate's private key; <see langword="null"/> when it is in <see cref="TlsCertificateFile"/>.</summary>
    public string? TlsKeyFile { get; init; }

    /// <summary>PEM file of the authorities that sign client certificates: when set, every connection must present one (mutual TLS).</summary>
    public string? TlsClientCaFile { get; init; }

    /// <summary>Diagnostic: the heartbeat reports the <c>authorization</c> header it was sent (metric <c>authorization</c>).</summary>
    public bool EchoAuthorization { get; init; }

    /// <summary>A delay before each data batch is processed: a slow worker, for placement measurements. Default none.</summary>
    public TimeSpan BatchDelay { get; init; }

    public bool Verbose { get; init; }

    /// <summary>A deliberate deviation from the process contract (<c>--fault</c>), for the conformance kit's tests. Default none.</summary>
    public ProcessFault Fault { get; init; }

    /// <summary>
    /// The flags this worker does not know, as given (with the value that followed each, if any),
    /// ignored; empty when there were none.
    /// </summary>
    public IReadOnlyList<string> IgnoredArguments { get; init; } = [];

    public bool HelpRequested { get; init; }

    /// <summary>Parses the command line; on failure <paramref name="error"/> is one line saying what is wrong.</summary>
    public static bool TryParse(IReadOnlyList<string> args, [NotNullWhen(true)] out WorkerArguments? parsed, out string? error)
    {
        parsed = null;
        string? id = null;
        string? connection = null;
        var maxMessageSize = DefaultMaxMessageSize;
        var grace = DefaultTerminatorGrace;
        var outputBuffer = DefaultOutputBufferBytes;
        var connectionWindow = DefaultHttp2ConnectionWindow;
        var streamWindow = DefaultHttp2StreamWindow;
        var maxFrameSize = DefaultHttp2MaxFrameSize;
        var verbose = false;
        var echoAuthorization = false;
        System.Net.IPAddress? listenAddress = null;
        string? tlsCertificate = null;
        string? tlsKey = null;
        string? tlsClientCa = null;
        var batchDelay = TimeSpan.Zero;
        var fault = ProcessFault.None;
        var ignored = new List<string>();

        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? inlineValue = null;
            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && equals > 0)
            {
                inlineValue = arg[(equals + 1)..];
                arg = arg[..equals];
            }

            switch (arg)
            {
                case "--help" or "-h":
                    parsed = new WorkerArguments { Id = "", Connection = new WorkerConnection(null, 0), HelpRequested = true };
                    error = null;
                    return true;
                case "--verbose":
                    verbose = true;
                    continue;
                case "--echo-authorization":
                    echoAuthorization = true;
                    continue;
                case "--id" or "--connection" or "--max-message-size" or "--terminator-grace-ms" or "--output-buffer-bytes"
                    or "--http2-connection-window" or "--http2-stream-window" or "--http2-max-frame-size"
                    or "--listen-address" or "--tls-certificate" or "--tls-key" or "--tls-client-ca" or "--batch-delay-ms" or "--fault":
                    break;
                case { Length: > 2 } when arg.StartsWith("--", StringComparison.Ordinal):
                    // A flag of a later engine, or of another worker: ignored, with the value that
                    // follows it when that is not a flag itself (whether it takes one is unknowable).
                    var unknown = args[i];
                    if (inlineValue is null && i + 1 < args.Count && !args[i + 1].StartsWith('-'))
                    {
                        unknown += " " + args[++i];
                    }

                    ignored.Add(unknown);
                    continue;
                default:
                    error = $"unknown argument '{args[i]}'. {Usage}";
                    return false;
            }

            string value;
            if (inlineValue is not null)
            {
                value = inlineValue;
            }
            else if (i + 1 < args.Count)
            {
                value = args[++i];
            }
            else
            {
                error = $"{arg} needs a value. {Usage}";
                return false;
            }

            switch (arg)
            {
                case "--id":
                    id = value;
                    break;
                case "--connection":
                    connection = value;
                    break;
                case "--listen-address":
                    if (!System.Net.IPAddress.TryParse(value, out listenAddress))
                    {
                        error = $"--listen-address '{value}' is not an IP address (for example 0.0.0.0 or :: for every interface). {Usage}";
                        return false;
                    }

                    break;
                case "--tls-certificate":
                    tlsCertificate = value;
                    break;
                case "--tls-key":
                    tlsKey = value;
                    break;
                case "--fault":
                    ProcessFault? named = value switch
                    {
                        "reject-unknown-flags" => ProcessFault.RejectUnknownFlags,
                        "ignore-parent-death" => ProcessFault.IgnoreParentDeath,
                        _ => null,
                    };
                    if (named is not { } knownFault)
                    {
                        error = $"--fault '{value}' is not reject-unknown-flags or ignore-parent-death. {Usage}";
                        return false;
                    }

                    fault = knownFault;
                    break;
                case "--tls-client-ca":
                    tlsClientCa = value;
                    break;
                case "--max-message-size":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out maxMessageSize) || maxMessageSize < 64 * 1024)
                    {
                        error = $"--max-message-size '{value}' is not a number of bytes of at least 65536. {Usage}";
                        return false;
                    }

                    break;
                case "--batch-delay-ms":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var delay))
                    {
                        error = $"--batch-delay-ms '{value}' is not a number of milliseconds. {Usage}";
                        return false;
                    }

                    batchDelay = TimeSpan.FromMilliseconds(delay);
                    break;
                case "--terminator-grace-ms":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
                    {
                        error = $"--terminator-grace-ms '{value}' is not a number of milliseconds. {Usage}";
                        return false;
                    }

                    grace = TimeSpan.FromMilliseconds(ms);
                    break;
                case "--http2-connection-window":
                    if (!TryParseBytes(value, 65535, int.MaxValue, out connectionWindow))
                    {
                        error = $"--http2-connection-window '{value}' is not a number of bytes between 65535 and {int.MaxValue}. {Usage}";
                        return false;
                    }

                    break;
                case "--http2-stream-window":
                    if (!TryParseBytes(value, 65535, int.MaxValue, out streamWindow))
                    {
                        error = $"--http2-stream-window '{value}' is not a number of bytes between 65535 and {int.MaxValue}. {Usage}";
                        return false;
                    }

                    break;
                case "--http2-max-frame-size":
                    if (!TryParseBytes(value, 16 * 1024, (16 * 1024 * 1024) - 1, out maxFrameSize))
                    {
                        error = $"--http2-max-frame-size '{value}' is not a number of bytes between 16384 and 16777215. {Usage}";
                        return false;
                    }

                    break;
                default:
                    if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out outputBuffer) || outputBuffer < 1)
                    {
                        error = $"--output-buffer-bytes '{value}' is not a positive number of bytes. {Usage}";
                        return false;
                    }

                    break;
            }
        }

        if (fault == ProcessFault.RejectUnknownFlags && ignored.Count > 0)
        {
            error = $"unknown argument '{ignored[0].Split(' ')[0]}'. {Usage}";
            return false;
        }

        if (string.IsNullOrWhiteSpace(id))
        {
            error = $"missing --id <id>. {Usage}";
            return false;
        }

        if (string.IsNullOrWhiteSpace(connection))
        {
            error = $"missing --connection <socket path or port>. {Usage}";
            return false;
        }

        if (!TryParseConnection(connection, out var parsedConnection, out error))
        {
            return false;
        }

        if (tlsCertificate is null && (tlsKey is not null || tlsClientCa is not null))
        {
            error = $"{(tlsKey is not null ? "--tls-key" : "--tls-client-ca")} needs --tls-certificate <pem>. {Usage}";
            return false;
        }

        if (parsedConnection.Port is null && (tlsCertificate is not null || listenAddress is not null))
        {
            error = $"{(tlsCertificate is not null ? "--tls-certificate" : "--listen-address")} needs a TCP port as --connection, not a socket path. {Usage}";
            return false;
        }

        parsed = new WorkerArguments
        {
            Id = id,
            Connection = parsedConnection,
            MaxMessageSize = maxMessageSize,
            TerminatorGrace = grace,
            OutputBufferBytes = outputBuffer,
            Http2ConnectionWindow = connectionWindow,
            Http2StreamWindow = streamWindow,
            Http2MaxFrameSize = maxFrameSize,
            ListenAddress = listenAddress,
            TlsCertificateFile = tlsCertificate,
            TlsKeyFile = tlsKey,
            TlsClientCaFile = tlsClientCa,
            EchoAuthorization = echoAuthorization,
            BatchDelay = batchDelay,
            Verbose = verbose,
            Fault = fault,
            IgnoredArguments = ignored,
        };
        error = null;
        return true;
    }

    private static bool TryParseBytes(string value, int min, int max, out int bytes) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out bytes) && bytes >= min && bytes <= max;

    private static bool TryParseConnection(string value, [NotNullWhen(true)] out WorkerConnection? connection, out string? error)
    {
        connection = null;

        // The specification's rule: all digits is a TCP port, anything else a socket path.
        if (value.All(char.IsAsciiDigit))
        {
            if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                error = $"--connection '{value}' is not a TCP port between 1 and 65535. {Usage}";
                return false;
            }

            connection = new WorkerConnection(null, port);
            error = null;
            return true;
        }

        // A relative path is taken against the working directory, as any Unix tool would.
        value = Path.GetFullPath(value);
        var bytes = System.Text.Encoding.UTF8.GetByteCount(value);
        if (bytes > 107)
        {
            error = $"--connection socket path is {bytes} bytes long; Linux allows at most 107. {Usage}";
            return false;
        }

        connection = new WorkerConnection(value, null);
        error = null;
        return true;
    }
}
