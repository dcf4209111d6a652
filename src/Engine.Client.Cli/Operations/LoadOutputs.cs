using System.Globalization;
using System.Text;
using Engine.Client.Cli.Parsing;
using Engine.Client.Load;

namespace Engine.Client.Cli.Operations;

/// <summary>Where <c>load</c> writes its reports: explicit paths, or the defaults of <c>--output-dir</c>.</summary>
internal sealed record LoadOutputs(string? Json, string? Html, string? Csv, string? HdrLog, string? Intervals)
{
    /// <summary>The <c>--output-dir</c> directory when this command created it (it did not exist), else <see langword="null"/>: a command that ran no test removes it again when it is still empty.</summary>
    public string? CreatedDirectory { get; init; }

    /// <summary>The option that named <see cref="Html"/>, as messages name it: <c>--report-html</c>, or <c>--output-dir</c> for its default file.</summary>
    public string HtmlOption { get; init; } = "--report-html";

    /// <summary>The option that named <see cref="Csv"/>: <c>--csv</c> or <c>--output-dir</c>.</summary>
    public string CsvOption { get; init; } = "--csv";

    /// <summary>The option that named <see cref="HdrLog"/>: <c>--hdr-log</c> or <c>--output-dir</c>.</summary>
    public string HdrLogOption { get; init; } = "--hdr-log";

    /// <summary>The option that named <see cref="Intervals"/>: <c>--intervals</c> or <c>--output-dir</c>.</summary>
    public string IntervalsOption { get; init; } = "--intervals";

    /// <summary>
    /// The outputs, checked before any work: two outputs given one file, an output that names one of
    /// <paramref name="inputs"/> (the run's own input files, each with the option that named it), an
    /// output that is standard output (where the summary goes, or the JSON object with
    /// <paramref name="jsonSummary"/>), or a path that cannot be written is a
    /// <see cref="UsageException"/>.
    /// </summary>
    public static LoadOutputs Resolve(string? directory, string? html, string? csv, string? hdrLog, string? intervals, LoadShard shard, IReadOnlyList<(string What, string Path)> inputs, bool jsonSummary = false)
    {
        string? json = null;
        string Label(string option, string? path) => path is null && directory is not null ? "--output-dir" : option;
        var (htmlOption, csvOption, hdrLogOption, intervalsOption) =
            (Label("--report-html", html), Label("--csv", csv), Label("--hdr-log", hdrLog), Label("--intervals", intervals));
        var named = new List<(string Option, string? Path)>
        {
            ("--report-html", html), ("--csv", csv), ("--hdr-log", hdrLog), ("--intervals", intervals),
        };
        if (directory is not null)
        {
            var suffix = shard.Count > 1 ? string.Create(CultureInfo.InvariantCulture, $"-shard-{shard.Index}-of-{shard.Count}") : "";
            json = Path.Combine(directory, $"result{suffix}.json");
            named.Add(("--output-dir (its result.json)", json));
            html ??= Default(named, "--report-html", Path.Combine(directory, $"report{suffix}.html"));
            csv ??= Default(named, "--csv", Path.Combine(directory, $"result{suffix}.csv"));
            hdrLog ??= Default(named, "--hdr-log", Path.Combine(directory, $"histograms{suffix}.hlog"));
            intervals ??= Default(named, "--intervals", Path.Combine(directory, $"intervals{suffix}.jsonl"));
        }

        // Two reports to one file would overwrite each other, and a report to an input file would
        // overwrite that input: bad usage, found before any work (before the directory is made).
        CheckDistinct(named);
        CheckNotInputs(named, inputs);
        CheckNotStandardOutput(named, jsonSummary ? "its JSON object" : "its summary");

        string? created = null;
        if (directory is not null)
        {
            try
            {
                created = Directory.Exists(directory) ? null : directory;
                Directory.CreateDirectory(directory);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new UsageException($"--output-dir '{directory}' cannot be created: {InputFiles.DescribeDirectory(directory, ex)}", ex);
            }
        }

        var outputs = new LoadOutputs(json, html, csv, hdrLog, intervals)
        {
            HtmlOption = htmlOption,
            CsvOption = csvOption,
            HdrLogOption = hdrLogOption,
            IntervalsOption = intervalsOption,
            CreatedDirectory = created,
        };

        // Every path is checked now: one that cannot be written is bad usage, before any session
        // runs. The reports written at the end are only checked (a run that fails keeps what was
        // there); the logs written as the run goes are opened when it starts.
        InputFiles.CheckWritable(json, "--output-dir");
        InputFiles.CheckWritable(html, htmlOption);
        InputFiles.CheckWritable(csv, csvOption);
        InputFiles.CheckWritable(hdrLog, hdrLogOption);
        InputFiles.CheckWritable(intervals, intervalsOption);

        return outputs;
    }

    /// <summary>
    /// Refuses two outputs given the same file (compared after full resolution, see
    /// <see cref="FileKey"/>, and for files that exist by their device and inode, see
    /// <see cref="FileIdentity"/>), naming both options: one report would silently overwrite the other.
    /// </summary>
    public static void CheckDistinct(IReadOnlyList<(string Option, string? Path)> outputs)
    {
        var seen = new List<(string Option, string Path, OutputFile File)>();
        foreach (var (option, path, file) in Keys(outputs))
        {
            foreach (var (otherOption, otherPath, otherFile) in seen)
            {
                if (file.IsSameAs(otherFile))
                {
                    var where = otherPath == path ? $"'{path}'" : $"'{otherPath}' and '{path}' ({file.Describe(otherFile)})";
                    throw new UsageException($"{otherOption} and {option} both write {where}: one would overwrite the other; give each its own file.");
                }
            }

            seen.Add((option, path, file));
        }
    }

    /// <summary>
    /// Refuses an output that names one of the command's input files (compared after full
    /// resolution, see <see cref="FileKey"/>), naming the option and the input: writing it would
    /// destroy what the command read. <paramref name="inputs"/> are described as the user knows
    /// them (<c>--scenario</c>, <c>result</c>); an input path that cannot be resolved is left to
    /// its reader to refuse.
    /// </summary>
    public static void CheckNotInputs(IReadOnlyList<(string Option, string? Path)> outputs, IReadOnlyList<(string What, string Path)> inputs)
    {
        var keys = new List<(string What, string Path, OutputFile File)>();
        foreach (var (what, path) in inputs)
        {
            try
            {
                keys.Add((what, path, OutputFile.Of(path)));
            }
            catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
            {
                // Not a path at all: its reader says so.
            }
        }

        foreach (var (option, path, file) in Keys(outputs))
        {
            foreach (var (what, inputPath, inputFile) in keys)
            {
                if (file.IsSameAs(inputFile))
                {
                    var both = inputPath == path ? "" : $" ({file.Describe(inputFile)})";
                    throw new UsageException($"{option} '{path}' is the same file as {what} '{inputPath}'{both}: writing it would overwrite that input; give the output another path.");
                }
            }
        }
    }

    /// <summary>
    /// Refuses an output that is the command's standard output (see <see cref="IsStandardOutput"/>):
    /// what the command writes there (<paramref name="stdoutHolds"/>: its summary, or a JSON
    /// object) and the file would be mixed.
    /// </summary>
    public static void CheckNotStandardOutput(IReadOnlyList<(string Option, string? Path)> outputs, string stdoutHolds = "its summary")
    {
        foreach (var (option, path) in outputs)
        {
            if (path is not null && IsStandardOutput(path))
            {
                var instead = option.StartsWith("--output-dir", StringComparison.Ordinal)
                    ? "write the reports to another directory, or stdout elsewhere"
                    : $"give {option} a file of its own";
                throw new UsageException($"{option} '{path}' is this command's standard output, where {stdoutHolds} goes: the two would be mixed; {instead}.");
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="path"/> is the process's standard output: the same file (device and
    /// inode: <c>/dev/stdout</c>, <c>/proc/self/fd/1</c>, the file or pipe stdout was redirected to,
    /// a hard link of it), or, where those are unknown, the same name after full resolution
    /// (<see cref="FileKey"/>); and <c>/dev/tty</c> while stdout is a terminal. <c>/dev/null</c>
    /// keeps nothing and is never taken for it. False when stdout is closed or a path cannot be
    /// resolved (its writer says why).
    /// </summary>
    internal static bool IsStandardOutput(string path)
    {
        const string StandardOutput = "/dev/stdout";
        if (!OperatingSystem.IsLinux() || !File.Exists(StandardOutput))
        {
            return false;
        }

        try
        {
            var file = OutputFile.Of(path);
            if (file.IsNullDevice)
            {
                return false;
            }

            if (FileIdentity.OfDescriptor(1) is { } stdout && file.Identity is { } identity)
            {
                return identity == stdout
                    || (identity == FileIdentity.Of("/dev/tty") && !Console.IsOutputRedirected);
            }

            return file.IsSameAs(OutputFile.Of(StandardOutput));
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException or IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// The file <paramref name="path"/> names, as one string to compare: the file that reading or
    /// writing it opens. That is the absolute path with <c>.</c> and <c>..</c> taken as text (as
    /// .NET does before it opens a file: <c>link/..</c> is the directory holding the link, not the
    /// parent of its target), then every symbolic link on it (the file's own and its directories')
    /// followed to its final target, a <c>..</c> inside a link's target taken as the system takes
    /// it, as far as the links exist (at most 40 of them; a loop is left as spelt). Two names of
    /// one file by a hard link are not recognised here: <see cref="FileIdentity"/> finds them.
    /// </summary>
    /// <exception cref="ArgumentException">The path is not a valid path.</exception>
    internal static string FileKey(string path)
    {
        var full = Path.GetFullPath(path);
        var root = Path.GetPathRoot(full) ?? "";

        // Walked from the root of the path as .NET opens it (its "..", textual), each link
        // replaced by its target's components.
        var pending = new LinkedList<string>(Components(full[root.Length..]));
        var done = root;
        var follows = 0;
        while (pending.First is { } first)
        {
            var part = first.Value;
            pending.RemoveFirst();
            if (part is "" or ".")
            {
                continue;
            }

            if (part == "..")
            {
                done = Path.GetDirectoryName(done) ?? done;
                continue;
            }

            var next = Path.Join(done, part);
            string? link = null;
            try
            {
                link = new FileInfo(next).LinkTarget;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Cannot be read: taken as spelt.
            }

            if (link is null || ++follows > 40)
            {
                done = next;
                continue;
            }

            if (Path.IsPathRooted(link))
            {
                var target = Path.GetFullPath(link, done);
                done = Path.GetPathRoot(target) ?? done;
                link = target[done.Length..];
            }

            var components = Components(link);
            for (var i = components.Length - 1; i >= 0; i--)
            {
                pending.AddFirst(components[i]);
            }
        }

        return done;
    }

    /// <summary>The one device outputs may share with each other and with inputs: writing it keeps nothing.</summary>
    private const string NullDevice = "/dev/null";

    /// <summary>The outputs given, each with the file it names; <see cref="NullDevice"/> left out (it overwrites nothing).</summary>
    private static IEnumerable<(string Option, string Path, OutputFile File)> Keys(IReadOnlyList<(string Option, string? Path)> outputs)
    {
        foreach (var (option, path) in outputs)
        {
            if (path is not null && OutputKey(option, path) is var file && !file.IsNullDevice)
            {
                yield return (option, path, file);
            }
        }
    }

    /// <summary>
    /// A file as a path names it: its resolved name (<see cref="FileKey"/>) and, when it exists, its
    /// device and inode. Two are the same file when both identities are known and equal (a hard
    /// link, a descriptor's name), else when their names are.
    /// </summary>
    private readonly record struct OutputFile(string Key, FileIdentity? Identity)
    {
        /// <exception cref="ArgumentException">The path is not a valid path.</exception>
        public static OutputFile Of(string path)
        {
            // The identity of the file opening the path reaches: .NET opens the full path with its
            // "." and ".." taken as text, and the system follows the links from there.
            return new OutputFile(FileKey(path), FileIdentity.Of(Path.GetFullPath(path)));
        }

        public bool IsNullDevice => Key == NullDevice || (Identity is { } identity && identity == FileIdentity.Of(NullDevice));

        public bool IsSameAs(OutputFile other) =>
            Identity is { } identity && other.Identity is { } otherIdentity
                ? identity == otherIdentity
                : string.Equals(Key, other.Key, KeyComparison);

        /// <summary>How the two names meet, for a message: one resolved name, or one file by two names (a hard link).</summary>
        public string Describe(OutputFile other) =>
            string.Equals(Key, other.Key, KeyComparison) ? $"both '{Key}'" : "one file by two names: hard links";
    }

    private static StringComparison KeyComparison =>
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    private static string[] Components(string path) => path.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar]);

    private static OutputFile OutputKey(string option, string path)
    {
        try
        {
            return OutputFile.Of(path);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new UsageException($"{option} '{path}' is not a valid path.", ex);
        }
    }

    private static string Default(List<(string Option, string? Path)> named, string option, string path)
    {
        var index = named.FindIndex(n => n.Option == option);
        named[index] = ($"{option} (from --output-dir)", path);
        return path;
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/>; a failure is an output error.</summary>
    public static void WriteFile(string path, string option, string text)
    {
        try
        {
            File.WriteAllText(path, text, new UTF8Encoding(false));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option} '{path}' cannot be written: {InputFiles.DescribeWrite(path, ex)}", ex);
        }
    }

    /// <summary>
    /// Writes each report that has a path, each on its own: one that cannot be written (a full
    /// disk, a directory gone) is returned with its option, path and error, and the reports after
    /// it are written all the same.
    /// </summary>
    public static List<(string Option, string Path, Exception Error)> WriteReports(params IEnumerable<(string Option, string? Path, Func<string> Render)> reports)
    {
        var failures = new List<(string Option, string Path, Exception Error)>();
        foreach (var (option, path, render) in reports)
        {
            if (path is null)
            {
                continue;
            }

            try
            {
                File.WriteAllText(path, render(), new UTF8Encoding(false));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                failures.Add((option, path, ex));
            }
        }

        return failures;
    }

    /// <summary>
    /// Tells on stderr, one plain line each, the outputs that could not be written: those written
    /// as the run went (<paramref name="duringRun"/>: written no more after their failure) and the
    /// reports of the end (<paramref name="atEnd"/>). Returns the exit code: an output failure
    /// makes a success exit 2; another code (<paramref name="exit"/>: 130, 4, 3, 1) is kept, and
    /// each line says so.
    /// </summary>
    public static async Task<int> TellFailuresAsync(
        CliContext context, string command, int exit,
        IReadOnlyList<(string Option, string Path, Exception Error)> duringRun,
        IReadOnlyList<(string Option, string Path, Exception Error)> atEnd)
    {
        // As for stdout: it says what happened first.
        var consequence = exit == ExitCodes.Success ? $"exit {ExitCodes.Usage}" : $"exit {exit} says what happened first";
        foreach (var (option, path, error) in duringRun)
        {
            await context.Console.Error.WriteLineAsync(CliApp.OneLine(
                $"{command}: {option} '{path}' could not be written: {InputFiles.DescribeWrite(path, error)} It was written no more after that; the run and the other reports went on ({consequence})."));
        }

        foreach (var (option, path, error) in atEnd)
        {
            await context.Console.Error.WriteLineAsync(CliApp.OneLine(
                $"{command}: {option} '{path}' could not be written: {InputFiles.DescribeWrite(path, error)} The other reports went on without it ({consequence})."));
        }

        return exit == ExitCodes.Success && duringRun.Count + atEnd.Count > 0 ? ExitCodes.Usage : exit;
    }
}
