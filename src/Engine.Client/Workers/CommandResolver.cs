namespace Engine.Client.Workers;

/// <summary>
/// Finds the executable a command names, the way the specification documents it: absolute as
/// is; relative with a <c>/</c> from the specification's directory (or the current one); a bare
/// name on the <c>PATH</c> the process will see.
/// </summary>
internal static class CommandResolver
{
    /// <summary>The full path of the executable, or <see langword="null"/> with <paramref name="error"/> saying what is wrong.</summary>
    public static string? Resolve(string executable, string? baseDirectory, string? searchPath, string field, out string? error)
    {
        error = null;
        if (executable.Contains('/', StringComparison.Ordinal))
        {
            var full = Path.IsPathFullyQualified(executable)
                ? executable
                : Path.GetFullPath(Path.Combine(baseDirectory ?? Environment.CurrentDirectory, executable));
            var origin = Path.IsPathFullyQualified(executable)
                ? string.Empty
                : $" (relative paths are resolved against {(baseDirectory is null ? "the current directory" : "the specification's directory")})";
            if (Directory.Exists(full))
            {
                error = $"{field} '{executable}' is a directory ({full}){origin}; name the executable file.";
                return null;
            }

            if (!File.Exists(full))
            {
                error = $"{field} '{executable}' does not exist: no file at {full}{origin}. Check the path.";
                return null;
            }

            if (!IsExecutable(full))
            {
                error = $"{field} '{executable}' is not executable ({full}); make it executable (chmod +x) or run it through its interpreter, e.g. [\"sh\", \"{executable}\"].";
                return null;
            }

            return full;
        }

        var directories = (searchPath ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries);
        foreach (var directory in directories)
        {
            var candidate = Path.Combine(directory, executable);
            if (File.Exists(candidate) && IsExecutable(candidate))
            {
                return Path.GetFullPath(candidate);
            }
        }

        error = directories.Length == 0
            ? $"{field} '{executable}' cannot be found: PATH is empty. Give the executable's path, or set PATH."
            : $"{field} '{executable}' was not found on PATH ({string.Join(':', directories)}). Give its path (absolute, or relative to the specification's directory with a '/', e.g. ./{executable}), or add its directory to PATH.";
        return null;
    }

    private static bool IsExecutable(string path)
    {
        const UnixFileMode AnyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        if (OperatingSystem.IsWindows())
        {
            return true;
        }

        try
        {
            return (File.GetUnixFileMode(path) & AnyExecute) != 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
