using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli.Operations;

/// <summary>
/// The workers a command addresses: one or more <c>--worker</c>, or <c>--fleet</c> (a DNS target or
/// a file of addresses).
/// </summary>
internal sealed record FleetTargets
{
    /// <summary>The addresses given (<c>--worker</c>, or the lines of a <c>--fleet</c> file); empty for DNS.</summary>
    public IReadOnlyList<WorkerAddress> Workers { get; init; } = [];

    /// <summary>The <c>dns:</c> target of <c>--fleet</c>, or <see langword="null"/>.</summary>
    public string? Dns { get; init; }

    /// <summary>The file of addresses <c>--fleet</c> named, as given, or <see langword="null"/>.</summary>
    public string? File { get; init; }

    /// <summary>One <c>--worker</c>: the commands behave as they always did with one worker.</summary>
    public bool IsSingle => Dns is null && Workers.Count == 1;

    /// <summary>The name of the fleet in output, as the user gave it: the DNS target, the file, or the addresses.</summary>
    public string Name => Dns ?? File ?? string.Join(",", Workers.Select(w => w.ToString()));

    /// <summary>
    /// Reads <c>--worker</c> and <c>--fleet</c>. <see langword="null"/> when neither was given and
    /// <paramref name="required"/> is false.
    /// </summary>
    /// <exception cref="UsageException">Both were given, neither when required, or the file is unreadable or holds a bad address.</exception>
    public static FleetTargets? From(WorkerAddress[]? workers, string? fleet, bool required, string alternatives = "--worker <address> (repeatable) or --fleet <dns:///name:port | file>")
    {
        var hasWorkers = workers is { Length: > 0 };
        if (hasWorkers && fleet is not null)
        {
            throw new UsageException("--worker and --fleet are both given; give the workers one way: --worker <address> (repeatable), or --fleet <dns:///name:port | file>.");
        }

        if (hasWorkers)
        {
            return new FleetTargets { Workers = [.. workers!.DistinctBy(w => w.ToString())] };
        }

        if (fleet is null)
        {
            return required ? throw new UsageException($"no worker given; give {alternatives}.") : null;
        }

        if (fleet.StartsWith("dns:", StringComparison.OrdinalIgnoreCase))
        {
            return new FleetTargets { Dns = fleet };
        }

        var text = System.Text.Encoding.UTF8.GetString(InputFiles.ReadAllBytes(fleet, "--fleet"));
        var addresses = new List<WorkerAddress>();
        var number = 0;
        foreach (var raw in text.Split('\n'))
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            if (!WorkerAddress.TryParse(line, out var address, out var error))
            {
                throw new UsageException($"--fleet {fleet}: line {number}: {error}");
            }

            addresses.Add(address);
        }

        if (addresses.Count == 0)
        {
            throw new UsageException($"--fleet {fleet}: the file lists no worker address (one a line; blank lines and lines starting with # are skipped).");
        }

        return new FleetTargets { Workers = [.. addresses.DistinctBy(w => w.ToString())], File = fleet };
    }

    /// <summary>Creates the fleet of these workers.</summary>
    /// <exception cref="UsageException">The DNS target is malformed.</exception>
    public WorkerFleet CreateFleet(WorkerFleetOptions options)
    {
        if (Dns is null)
        {
            return WorkerFleet.Create(Workers.Select(w => w.ToString()), options);
        }

        try
        {
            return WorkerFleet.CreateFromDns(Dns, options);
        }
        catch (FormatException ex)
        {
            throw new UsageException("--fleet: " + ex.Message, ex);
        }
    }

    /// <summary>The addresses to call: those given, or those DNS resolves to now (empty when it resolves to none or fails).</summary>
    public async Task<(IReadOnlyList<WorkerAddress> Workers, string? Error)> ResolveAsync(WorkerConnectionOptions connection, CancellationToken cancellationToken)
    {
        if (Dns is null)
        {
            return (Workers, null);
        }

        await using var fleet = CreateFleet(new WorkerFleetOptions { Connection = connection, HeartbeatInterval = TimeSpan.FromHours(1) });
        var workers = await fleet.WaitForWorkersAsync(cancellationToken);
        return ([.. workers.Select(w => WorkerAddress.Parse(w.Address))], workers.Count == 0 ? fleet.ResolveError ?? $"{Dns} resolves to no worker" : null);
    }
}
