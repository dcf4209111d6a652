using System.Diagnostics.CodeAnalysis;

namespace Engine.Client.Cli.Parsing;

/// <summary>
/// <c>key=value</c> arguments (<c>--session-conf</c>, <c>--task-context</c>): split at the first
/// <c>=</c>; the key must not be empty, the value may be empty and may contain <c>=</c>. When a
/// key is given twice, the last value wins.
/// </summary>
internal static class KeyValues
{
    public static bool TryParse(string? text, out KeyValuePair<string, string> pair, [NotNullWhen(false)] out string? error)
    {
        pair = default;
        if (string.IsNullOrEmpty(text))
        {
            error = "is empty; give key=value (for example spark.sql.session.timeZone=UTC).";
            return false;
        }

        var equals = text.IndexOf('=', StringComparison.Ordinal);
        if (equals < 0)
        {
            error = $"'{text}' has no '='; give key=value (for example partition_id=3).";
            return false;
        }

        if (equals == 0)
        {
            error = $"'{text}' has an empty key; give key=value (for example partition_id=3).";
            return false;
        }

        pair = new KeyValuePair<string, string>(text[..equals], text[(equals + 1)..]);
        error = null;
        return true;
    }

    /// <summary>Parses every item; the last value of a repeated key wins.</summary>
    /// <exception cref="UsageException">An item is not key=value; the message names the option.</exception>
    public static Dictionary<string, string> ParseAll(IEnumerable<string>? items, string optionName)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in items ?? [])
        {
            if (!TryParse(item, out var pair, out var error))
            {
                throw new UsageException($"{optionName} {error}");
            }

            result[pair.Key] = pair.Value;
        }

        return result;
    }
}
