using System.CommandLine;
using System.CommandLine.Parsing;
using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli.Commands;

/// <summary>Options several commands share, with parsers that report one clear line.</summary>
internal static class CommonOptions
{
    public static Option<WorkerAddress?> Worker(bool required, string description) => new("--worker")
    {
        Description = description,
        HelpName = "address",
        Required = required,
        CustomParser = ParseAddress,
    };

    /// <summary><c>--worker</c>, repeatable: the workers of a fleet (one is a single worker).</summary>
    public static Option<WorkerAddress[]> Workers(string description) => new("--worker")
    {
        Description = description,
        HelpName = "address",
        Arity = ArgumentArity.ZeroOrMore,
        AllowMultipleArgumentsPerToken = false,
        CustomParser = result =>
        {
            var addresses = new List<WorkerAddress>();
            foreach (var token in result.Tokens)
            {
                if (!WorkerAddress.TryParse(token.Value, out var address, out var error))
                {
                    result.AddError($"--worker: {error}");
                    return [];
                }

                addresses.Add(address);
            }

            return [.. addresses];
        },
    };

    /// <summary><c>--fleet &lt;dns:///name:port | file&gt;</c>: the workers of a fleet, found through DNS or listed in a file.</summary>
    public static Option<string?> Fleet() => new("--fleet")
    {
        Description = "A fleet of workers: dns:///name:port (A/AAAA records), dns:///name (SRV records), dns://server:port/name[:port] (ask that DNS server), or a file with one worker address a line. Instead of --worker.",
        HelpName = "dns:///name:port|file",
    };

    public static Option<bool> Json(string description) => new("--json") { Description = description };

    public static Option<TimeSpan?> Timeout(string description) => new("--timeout")
    {
        Description = description,
        HelpName = "duration",
        CustomParser = result => ParseDuration(result, "--timeout"),
    };

    /// <summary><c>--keepalive &lt;duration|off&gt;</c>: <see cref="WorkerConnectionOptions.KeepAlivePingDelay"/>; not given = the SDK default (off).</summary>
    public static Option<TimeSpan?> KeepAlive() => new("--keepalive")
    {
        Description = "HTTP/2 keepalive: ping the worker when nothing arrived from it for this long while a call is active, for example 10m, or off. " +
            "Default off: gRPC-core, Java and Go workers close a connection pinged more often than every 5 minutes while they send nothing.",
        HelpName = "duration|off",
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : null;
            if (Durations.TryParseKeepAlive(text, out var value, out var error))
            {
                return value;
            }

            result.AddError($"--keepalive {error}");
            return null;
        },
    };

    /// <summary>A duration option's value; with <paramref name="allowZero"/>, zero (none) is taken too.</summary>
    public static TimeSpan? ParseDuration(ArgumentResult result, string option, bool allowZero = false)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : null;
        if (Durations.TryParse(text, out var value, out var error, allowZero))
        {
            return value;
        }

        result.AddError($"{option} {error}");
        return null;
    }

    public static long? ParseByteSize(ArgumentResult result, string option)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : null;
        if (ByteSizes.TryParse(text, out var value, out var error))
        {
            return value;
        }

        result.AddError($"{option} {error}");
        return null;
    }

    private static WorkerAddress? ParseAddress(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : null;
        if (WorkerAddress.TryParse(text, out var address, out var error))
        {
            return address;
        }

        result.AddError($"--worker: {error}");
        return null;
    }

    /// <summary>The UDF payload of <c>--payload</c> (UTF-8 text) or <c>--payload-file</c> (bytes), at most one of them; empty when neither is given.</summary>
    /// <exception cref="UsageException">Both are given, or the file cannot be read.</exception>
    public static ReadOnlyMemory<byte> ReadPayload(string? text, string? path)
    {
        if (text is not null && path is not null)
        {
            throw new UsageException("--payload and --payload-file are both given; give at most one.");
        }

        if (text is not null)
        {
            return System.Text.Encoding.UTF8.GetBytes(text);
        }

        return path is null ? ReadOnlyMemory<byte>.Empty : Operations.InputFiles.ReadAllBytes(path, "--payload-file");
    }

    /// <summary>A byte-size option's value as an <see cref="int"/> (a message or chunk size), at most 2 GiB.</summary>
    /// <exception cref="UsageException">The value is above <see cref="int.MaxValue"/>.</exception>
    public static int? ByteSize(long? value, string option) => value switch
    {
        null => null,
        > int.MaxValue => throw new UsageException($"{option} {value} is too large; the most is {int.MaxValue} bytes (2 GiB)."),
        _ => (int)value.Value,
    };
}
