namespace Engine.Client.Cli.Output;

/// <summary>Command lines as a POSIX shell reads them back.</summary>
internal static class ShellText
{
    /// <summary>
    /// <paramref name="arguments"/> joined by spaces, each quoted when a shell would otherwise split,
    /// expand or interpret it (<see cref="Quote"/>): pasted into a shell, it gives the same arguments.
    /// </summary>
    public static string CommandLine(IEnumerable<string> arguments) => string.Join(' ', arguments.Select(Quote));

    /// <summary>
    /// <paramref name="argument"/> as is when it holds only characters no POSIX shell treats
    /// specially (ASCII letters, digits and <c>-_./=:@%+,</c>); otherwise in single quotes, each
    /// single quote written as <c>'\''</c> (close, an escaped quote, reopen). Empty is <c>''</c>.
    /// </summary>
    public static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:@%+,".Contains(c, StringComparison.Ordinal))
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
