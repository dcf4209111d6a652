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

    public static TimeSpan? ParseDuration(ArgumentResult result, string option)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : null;
        if (Durations.TryParse(text, out var value, out var error))
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
}
