using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Engine.Client.Cli.Parsing;

/// <summary>
/// Gives every numeric option of the command tree that has no parser of its own one that reports
/// a bad value in the user's terms ("--rate: 'abc' is not a number"), instead of
/// System.CommandLine's message naming .NET types. One pass over the tree, so an option added
/// later cannot miss it.
/// </summary>
internal static class TypedValues
{
    /// <summary>Installs the parsers on <paramref name="command"/>'s options and those of its subcommands.</summary>
    public static void Install(Command command)
    {
        foreach (var option in command.Options)
        {
            Install(option);
        }

        foreach (var subcommand in command.Subcommands)
        {
            Install(subcommand);
        }
    }

    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>], or an error naming the option.</summary>
    public static bool TryParseWhole(string text, string option, long min, long max, out long value, out string error)
    {
        error = string.Empty;
        if (long.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out value))
        {
            if (value >= min && value <= max)
            {
                return true;
            }

            error = string.Create(CultureInfo.InvariantCulture, $"{option}: '{text}' is out of range; give a whole number from {min} to {max}.");
            return false;
        }

        var digits = text.Trim().TrimStart('-', '+');
        error = digits.Length > 0 && digits.All(char.IsAsciiDigit)
            ? string.Create(CultureInfo.InvariantCulture, $"{option}: '{text}' is out of range; give a whole number from {min} to {max}.")
            : $"{option}: '{text}' is not a whole number; give one like 4.";
        return false;
    }

    /// <summary>A whole-number option's value in [<paramref name="min"/>, <paramref name="max"/>] (its documented range), or an error naming the option and the range.</summary>
    public static long? ParseWhole(ArgumentResult result, string option, long min, long max) => Whole(result, option, min, max);

    /// <summary>A finite number (invariant culture, '.' as the decimal point), or an error naming the option.</summary>
    public static bool TryParseNumber(string text, string option, out double value, out string error)
    {
        error = string.Empty;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value))
        {
            return true;
        }

        error = $"{option}: '{text}' is not a number; give one like 50 or 0.5.";
        return false;
    }

    private static void Install(Option option)
    {
        switch (option)
        {
            case Option<int?> o when o.CustomParser is null:
                o.CustomParser = r => Whole(r, o.Name, int.MinValue, int.MaxValue) is { } v ? (int)v : null;
                break;
            case Option<long?> o when o.CustomParser is null:
                o.CustomParser = r => Whole(r, o.Name, long.MinValue, long.MaxValue);
                break;
            case Option<double?> o when o.CustomParser is null:
                o.CustomParser = r => Number(r, o.Name);
                break;
            case Option<int> or Option<long> or Option<double>:
                // A non-nullable value type cannot say "not given" through a parser that failed;
                // declare numeric options nullable.
                throw new InvalidOperationException($"{option.Name}: declare numeric options as nullable (int?, long?, double?).");
            default:
                break;
        }
    }

    private static long? Whole(ArgumentResult result, string option, long min, long max)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (TryParseWhole(text, option, min, max, out var value, out var error))
        {
            return value;
        }

        result.AddError(error);
        return null;
    }

    private static double? Number(ArgumentResult result, string option)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (TryParseNumber(text, option, out var value, out var error))
        {
            return value;
        }

        result.AddError(error);
        return null;
    }
}
