using System.Collections.ObjectModel;
using System.Diagnostics;
using System.Text;
using Engine.Client.Protocol;
using Engine.Client.Workers;

namespace Engine.Client;

/// <summary>
/// A process a worker specification asks the engine to run (its <c>ProcessCallable</c>): the
/// worker itself, or an environment installation, verification or cleanup step.
/// </summary>
public sealed class WorkerCommand
{
    internal WorkerCommand(ProcessCallable callable)
    {
        Command = callable.Command.ToArray();
        Arguments = callable.Arguments.ToArray();
        EnvironmentVariables = new ReadOnlyDictionary<string, string>(
            new Dictionary<string, string>(callable.EnvironmentVariables, StringComparer.Ordinal));
    }

    /// <summary>The executable, then its leading arguments. Never empty in a valid specification.</summary>
    public IReadOnlyList<string> Command { get; }

    /// <summary>Further arguments, after <see cref="Command"/>.</summary>
    public IReadOnlyList<string> Arguments { get; }

    /// <summary>Variables added to the inherited environment of the process.</summary>
    public IReadOnlyDictionary<string, string> EnvironmentVariables { get; }

    /// <summary>The executable as the specification names it (the first entry of <see cref="Command"/>).</summary>
    public string Executable => Command.Count > 0 ? Command[0] : string.Empty;

    /// <summary>The command line, for messages: every entry of <see cref="Command"/> and <see cref="Arguments"/>, quoted where needed.</summary>
    public override string ToString() => FormatCommandLine(Command.Concat(Arguments));

    /// <summary>
    /// How to start this command: every stream redirected (UTF-8), the specification's variables
    /// added to the inherited environment, and the executable resolved against
    /// <paramref name="baseDirectory"/> and the PATH the process will see. Arguments are the
    /// caller's to add. <see langword="null"/> with <paramref name="error"/> (naming
    /// <paramref name="field"/>) when the executable cannot be run.
    /// </summary>
    internal ProcessStartInfo? CreateStartInfo(string? baseDirectory, string field, out string executable, out string? error)
    {
        var startInfo = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var (variable, value) in EnvironmentVariables)
        {
            startInfo.Environment[variable] = value;
        }

        startInfo.Environment.TryGetValue("PATH", out var searchPath);
        var resolved = CommandResolver.Resolve(Executable, baseDirectory, searchPath, field + ".command[0]", out error);
        executable = resolved ?? string.Empty;
        if (resolved is null)
        {
            return null;
        }

        startInfo.FileName = resolved;
        return startInfo;
    }

    internal static string FormatCommandLine(IEnumerable<string> parts) =>
        string.Join(' ', parts.Select(Quote));

    private static string Quote(string part) =>
        part.Length > 0 && part.All(c => char.IsLetterOrDigit(c) || "-_./=:@%+,".Contains(c, StringComparison.Ordinal))
            ? part
            : "'" + part.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
