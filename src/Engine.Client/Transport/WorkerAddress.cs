using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Engine.Client;

/// <summary>How a worker's endpoint is reached.</summary>
public enum WorkerTransport
{
    /// <summary>HTTP/2 over a Unix domain socket (<c>unix:///path/to/socket</c>).</summary>
    UnixDomainSocket,

    /// <summary>HTTP/2 over TCP: <c>http://host:port</c> in the clear, <c>https://host:port</c> over TLS (<see cref="WorkerAddress.UsesTls"/>).</summary>
    Tcp,
}

/// <summary>
/// The address of a worker's gRPC endpoint: <c>unix:///absolute/path.sock</c> for a Unix domain
/// socket, <c>http://host:port</c> for TCP in the clear or <c>https://host:port</c> for TCP over TLS
/// (trust, server name and client certificate in <see cref="WorkerConnectionOptions.Tls"/>). Parse
/// once, reuse everywhere.
/// </summary>
public sealed class WorkerAddress : IEquatable<WorkerAddress>
{
    /// <summary>Linux limits a socket path to 107 bytes (108 with the terminating NUL).</summary>
    public const int MaxUnixSocketPathBytes = 107;

    private WorkerAddress(WorkerTransport transport, string? socketPath, Uri? httpUri, string text)
    {
        Transport = transport;
        SocketPath = socketPath;
        HttpUri = httpUri;
        _text = text;
    }

    private readonly string _text;

    /// <summary>The transport this address uses.</summary>
    public WorkerTransport Transport { get; }

    /// <summary>The absolute socket path, for <see cref="WorkerTransport.UnixDomainSocket"/>; otherwise <see langword="null"/>.</summary>
    public string? SocketPath { get; }

    /// <summary>The <c>http://host:port</c> or <c>https://host:port</c> URI, for <see cref="WorkerTransport.Tcp"/>; otherwise <see langword="null"/>.</summary>
    public Uri? HttpUri { get; }

    /// <summary>Whether the connection uses TLS: an <c>https://</c> address.</summary>
    public bool UsesTls => HttpUri is { } uri && uri.Scheme == Uri.UriSchemeHttps;

    /// <summary>
    /// Whether the address stays on this machine: a Unix domain socket, a loopback IP address or
    /// the name <c>localhost</c>. Any other host name counts as remote (it is not resolved).
    /// </summary>
    public bool IsLocal => Transport == WorkerTransport.UnixDomainSocket
        || HttpUri!.IsLoopback
        || (System.Net.IPAddress.TryParse(HttpUri.IdnHost, out var ip) && System.Net.IPAddress.IsLoopback(ip));

    /// <summary>An address for a Unix domain socket at <paramref name="socketPath"/> (absolute).</summary>
    /// <exception cref="ArgumentException">The path is not absolute or is longer than 107 bytes.</exception>
    public static WorkerAddress ForUnixSocket(string socketPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        var error = CheckSocketPath(socketPath);
        if (error is not null)
        {
            throw new ArgumentException(error, nameof(socketPath));
        }

        return new WorkerAddress(WorkerTransport.UnixDomainSocket, socketPath, null, "unix://" + socketPath);
    }

    /// <summary>An address for TCP in the clear at <c>http://host:port</c>.</summary>
    public static WorkerAddress ForTcp(string host, int port) => ForTcp(host, port, useTls: false);

    /// <summary>An address for TCP at <c>http://host:port</c>, or with <paramref name="useTls"/> over TLS at <c>https://host:port</c>.</summary>
    public static WorkerAddress ForTcp(string host, int port, bool useTls)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        var hostPart = host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? "[" + host + "]" : host;
        return Parse((useTls ? "https://" : "http://") + hostPart + ":" + port.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>Parses <c>unix:///path</c>, <c>unix:/path</c>, <c>http://host:port</c> or <c>https://host:port</c>.</summary>
    /// <exception cref="FormatException">The text is not a worker address; the message says why and shows the accepted forms.</exception>
    public static WorkerAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!TryParse(text, out var address, out var error))
        {
            throw new FormatException(error);
        }

        return address;
    }

    /// <summary>Parses an address; returns <see langword="false"/> when the text is not one.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out WorkerAddress? address) =>
        TryParse(text, out address, out _);

    /// <summary>Parses an address; on failure <paramref name="error"/> says what is wrong and what is accepted.</summary>
    public static bool TryParse(
        [NotNullWhen(true)] string? text,
        [NotNullWhen(true)] out WorkerAddress? address,
        [NotNullWhen(false)] out string? error)
    {
        address = null;
        const string Accepted = "Use unix:///absolute/path/to/socket, http://host:port or https://host:port.";
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "The worker address is empty. " + Accepted;
            return false;
        }

        text = text.Trim();
        if (text.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
        {
            var path = text["unix:".Length..];
            if (path.StartsWith("//", StringComparison.Ordinal))
            {
                path = path[2..];
            }

            if (path.Length == 0 || path[0] != '/')
            {
                error = $"The worker address '{text}' does not name an absolute socket path. " + Accepted;
                return false;
            }

            var pathError = CheckSocketPath(path);
            if (pathError is not null)
            {
                error = $"The worker address '{text}' is not usable: {pathError}";
                return false;
            }

            address = new WorkerAddress(WorkerTransport.UnixDomainSocket, path, null, "unix://" + path);
            error = null;
            return true;
        }

        var scheme = text.StartsWith("https://", StringComparison.OrdinalIgnoreCase) ? "https"
            : text.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? "http"
            : null;
        if (scheme is null)
        {
            error = $"The worker address '{text}' has an unknown scheme. " + Accepted;
            return false;
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            error = $"The worker address '{text}' is not a valid {scheme} URI. " + Accepted;
            return false;
        }

        if (uri.IsDefaultPort && !HasExplicitPort(text, scheme))
        {
            error = $"The worker address '{text}' has no port. " + Accepted;
            return false;
        }

        if (uri.AbsolutePath != "/" || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
        {
            error = $"The worker address '{text}' has a path, query or fragment; a worker address is only {scheme}://host:port.";
            return false;
        }

        // HostAndPort keeps the port even when it is the scheme's default.
        var authority = uri.GetComponents(UriComponents.HostAndPort, UriFormat.UriEscaped);
        var canonical = scheme + "://" + authority;
        address = new WorkerAddress(WorkerTransport.Tcp, null, new Uri(canonical), canonical);
        error = null;
        return true;
    }

    private static bool HasExplicitPort(string text, string scheme)
    {
        var authority = text[(scheme.Length + "://".Length)..];
        var slash = authority.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            authority = authority[..slash];
        }

        var bracket = authority.LastIndexOf(']');
        var colon = authority.LastIndexOf(':');
        return colon > bracket;
    }

    private static string? CheckSocketPath(string path)
    {
        if (!Path.IsPathFullyQualified(path))
        {
            return $"the socket path '{path}' is not absolute.";
        }

        var bytes = System.Text.Encoding.UTF8.GetByteCount(path);
        if (bytes > MaxUnixSocketPathBytes)
        {
            return $"the socket path is {bytes} bytes long; Linux allows at most {MaxUnixSocketPathBytes}. Use a shorter directory (for example under /tmp).";
        }

        return null;
    }

    /// <summary>The canonical text form: <c>unix:///path</c>, <c>http://host:port</c> or <c>https://host:port</c>.</summary>
    public override string ToString() => _text;

    /// <inheritdoc/>
    public bool Equals(WorkerAddress? other) => other is not null && string.Equals(_text, other._text, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as WorkerAddress);

    /// <inheritdoc/>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(_text);
}
