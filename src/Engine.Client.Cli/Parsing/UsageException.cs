namespace Engine.Client.Cli.Parsing;

/// <summary>
/// A bad argument, a bad combination of options or a file that cannot be read: reported as one
/// line on stderr, exit code 2. The message names what was wrong and what to do.
/// </summary>
internal sealed class UsageException : Exception
{
    public UsageException(string message)
        : base(message)
    {
    }

    public UsageException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    public UsageException()
    {
    }
}
