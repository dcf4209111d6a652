using System.Globalization;
using System.Text.Json;

namespace Engine.Client.Cli.Parsing;

/// <summary>
/// A JSON syntax error in the words the specification parser uses: where (line and position,
/// from 1), what, and what to do; never the reader's "LineNumber: 0 | BytePositionInLine: 0".
/// </summary>
internal static class JsonSyntax
{
    /// <summary>"is not valid JSON at line 2, position 1: ... Fix the syntax."</summary>
    public static string Describe(JsonException exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var where = exception.LineNumber is { } line
            ? string.Create(CultureInfo.InvariantCulture, $" at line {line + 1}, position {(exception.BytePositionInLine ?? 0) + 1}")
            : string.Empty;
        return $"is not valid JSON{where}: {FirstSentence(exception.Message)} Fix the syntax.";
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        var text = (cut > 0 ? message[..cut] : message)
            .Replace(" Change the reader options.", string.Empty, StringComparison.Ordinal)
            .Replace(" Path: $", string.Empty, StringComparison.Ordinal)
            .Trim()
            .TrimEnd('|')
            .Trim();
        return text.EndsWith('.') ? text : text + ".";
    }
}
