using System.Globalization;
using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;
using Grpc.Core;
using Grpc.Net.Client.Balancer;
using Microsoft.Extensions.Logging;

namespace Engine.Client.Fleets;

/// <summary>
/// A parsed <c>dns:</c> target: <c>dns:///name:port</c> (A/AAAA), <c>dns:///name</c> (SRV), and
/// <c>dns://server[:port]/...</c> (grpc's authority form) to ask a given DNS server.
/// </summary>
internal sealed record DnsTarget(string Name, int? Port, IPEndPoint? Server)
{
    public const string Forms = "dns:///name:port (A/AAAA records), dns:///name (SRV records), or dns://server:port/name[:port] to ask a given DNS server";

    public static DnsTarget Parse(string target)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (!target.StartsWith("dns://", StringComparison.OrdinalIgnoreCase))
        {
            throw new FormatException($"'{target}' is not a DNS target; use {Forms}.");
        }

        var rest = target["dns://".Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            throw new FormatException($"'{target}' has no name after the authority; use {Forms}.");
        }

        var authority = rest[..slash];
        var name = rest[(slash + 1)..];
        IPEndPoint? server = null;
        if (authority.Length > 0)
        {
            if (!IPEndPoint.TryParse(authority, out server))
            {
                throw new FormatException($"'{target}': the DNS server '{authority}' is not an IP address with an optional port.");
            }

            if (server.Port == 0)
            {
                server.Port = 53;
            }
        }

        int? port = null;
        var colon = name.LastIndexOf(':');
        if (colon >= 0)
        {
            if (!int.TryParse(name[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) || parsed is < 1 or > 65535)
            {
                throw new FormatException($"'{target}': the port '{name[(colon + 1)..]}' is not a number from 1 to 65535.");
            }

            port = parsed;
            name = name[..colon];
        }

        if (!IsDnsName(name))
        {
            throw new FormatException($"'{target}': '{name}' is not a DNS name; use {Forms}.");
        }

        return new DnsTarget(name, port, server);
    }

    /// <summary>Labels of letters, digits, '-' and '_' (SRV names start with '_'), 1 to 63 each, 253 in all; a trailing dot allowed.</summary>
    private static bool IsDnsName(string name)
    {
        var trimmed = name.EndsWith('.') ? name[..^1] : name;
        return trimmed.Length is > 0 and <= 253
            && trimmed.Split('.').All(label => label.Length is > 0 and <= 63 && label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'));
    }

    public override string ToString() =>
        (Server is null ? "dns:///" : $"dns://{Server}/") + Name + (Port is { } p ? ":" + p.ToString(CultureInfo.InvariantCulture) : "");
}

/// <summary>
/// Resolves a <see cref="DnsTarget"/> to worker addresses, on grpc-dotnet's
/// <see cref="PollingResolver"/> (which runs one resolution at a time and coalesces refreshes):
/// A and AAAA records with the target's port, or SRV records (each target's addresses with its
/// port). DnsClient asks the given server, or the system's name servers; without a server, A/AAAA
/// go through the system resolver (hosts file included), as grpc's own DNS resolver does.
/// </summary>
internal sealed class DnsWorkerResolver : PollingResolver
{
    private static readonly TimeSpan QueryTimeout = TimeSpan.FromSeconds(5);

    private readonly DnsTarget _target;
    private readonly LookupClient? _lookup;

    public DnsWorkerResolver(DnsTarget target, ILoggerFactory loggerFactory)
        : base(loggerFactory)
    {
        _target = target;
        if (target.Server is not null || target.Port is null)
        {
            var options = target.Server is { } server ? new LookupClientOptions(new NameServer(server)) : new LookupClientOptions();
            options.UseCache = false;
            options.Timeout = QueryTimeout;
            options.Retries = 1;
            options.ThrowDnsErrors = false;
            options.UseTcpFallback = true;
            _lookup = new LookupClient(options);
        }
    }

    protected override async Task ResolveAsync(CancellationToken cancellationToken)
    {
        try
        {
            var addresses = _target.Port is { } port
                ? await ResolveHostAsync(_target.Name, port, cancellationToken).ConfigureAwait(false)
                : await ResolveSrvAsync(cancellationToken).ConfigureAwait(false);
            Listener(ResolverResult.ForResult(addresses));
        }
        catch (Exception ex) when (ex is DnsResponseException or SocketException or IOException or InvalidOperationException or TimeoutException
            || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            Listener(ResolverResult.ForFailure(new Status(StatusCode.Unavailable, $"resolving {_target} failed: {ex.Message}", ex)));
        }
    }

    private async Task<List<BalancerAddress>> ResolveHostAsync(string host, int port, CancellationToken cancellationToken)
    {
        IPAddress[] ips;
        if (_lookup is null)
        {
            try
            {
                ips = await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.HostNotFound)
            {
                // A name that does not exist has no workers, as with a DNS server's NXDOMAIN.
                ips = [];
            }
        }
        else
        {
            var a = await _lookup.QueryAsync(host, QueryType.A, QueryClass.IN, cancellationToken).ConfigureAwait(false);
            var aaaa = await _lookup.QueryAsync(host, QueryType.AAAA, QueryClass.IN, cancellationToken).ConfigureAwait(false);
            ThrowOnError(a, host, "A");
            ThrowOnError(aaaa, host, "AAAA");
            ips = [.. a.Answers.ARecords().Select(r => r.Address), .. aaaa.Answers.AaaaRecords().Select(r => r.Address)];
        }

        return [.. ips.Distinct().Select(ip => new BalancerAddress(ip.ToString(), port))];
    }

    private async Task<List<BalancerAddress>> ResolveSrvAsync(CancellationToken cancellationToken)
    {
        var response = await _lookup!.QueryAsync(_target.Name, QueryType.SRV, QueryClass.IN, cancellationToken).ConfigureAwait(false);
        ThrowOnError(response, _target.Name, "SRV");
        var addresses = new List<BalancerAddress>();
        foreach (var srv in response.Answers.SrvRecords())
        {
            var target = srv.Target.Value.TrimEnd('.');

            // The additional section usually carries the targets' addresses; ask when it does not.
            var known = response.Additionals.OfType<AddressRecord>()
                .Where(r => string.Equals(r.DomainName.Value.TrimEnd('.'), target, StringComparison.OrdinalIgnoreCase))
                .Select(r => r.Address)
                .ToList();
            if (known.Count > 0)
            {
                addresses.AddRange(known.Distinct().Select(ip => new BalancerAddress(ip.ToString(), srv.Port)));
            }
            else
            {
                addresses.AddRange(await ResolveHostAsync(target, srv.Port, cancellationToken).ConfigureAwait(false));
            }
        }

        return addresses;
    }

    /// <summary>A name that does not exist is an empty answer (the workers are gone); any other error fails the resolution.</summary>
    private static void ThrowOnError(IDnsQueryResponse response, string name, string type)
    {
        if (response.HasError && response.Header.ResponseCode != DnsHeaderResponseCode.NotExistentDomain)
        {
            throw new InvalidOperationException($"the {type} query for {name} failed: {response.ErrorMessage}");
        }
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
    }
}
