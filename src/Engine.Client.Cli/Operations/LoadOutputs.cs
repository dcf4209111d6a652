using System.Globalization;
using System.Text;
using Engine.Client.Cli.Parsing;
using Engine.Client.Load;

namespace Engine.Client.Cli.Operations;

/// <summary>Where <c>load</c> writes its reports: explicit paths, or the defaults of <c>--output-dir</c>.</summary>
internal sealed record LoadOutputs(string? Json, string? Html, string? Csv, string? HdrLog, string? Intervals)
{
    public static LoadOutputs Resolve(string? directory, string? html, string? csv, string? hdrLog, string? intervals, LoadShard shard)
    {
        string? json = null;
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

        // Two reports to one file would overwrite each other: bad usage, found before any work.
        CheckDistinct(named);

        if (directory is not null)
        {
            try
            {
                Directory.CreateDirectory(directory);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new UsageException($"--output-dir '{directory}' cannot be created: {InputFiles.DescribeDirectory(directory, ex)}", ex);
            }
        }

        var outputs = new LoadOutputs(json, html, csv, hdrLog, intervals);

        // Every path is checked now: one that cannot be written is bad usage, before any session
        // runs. The reports written at the end are only checked (a run that fails keeps what was
        // there); the logs written as the run goes are opened when it starts.
        InputFiles.CheckWritable(json, "--output-dir");
        InputFiles.CheckWritable(html, "--report-html");
        InputFiles.CheckWritable(csv, "--csv");
        InputFiles.CheckWritable(hdrLog, "--hdr-log");
        InputFiles.CheckWritable(intervals, "--intervals");

        return outputs;
    }

    /// <summary>
    /// Refuses two outputs given the same file (compared by full path), naming both options:
    /// one report would silently overwrite the other.
    /// </summary>
    public static void CheckDistinct(IReadOnlyList<(string Option, string? Path)> outputs)
    {
        var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        var seen = new List<(string Option, string Path, string Full)>();
        foreach (var (option, path) in outputs)
        {
            if (path is null)
            {
                continue;
            }

            string full;
            try
            {
                full = Path.GetFullPath(path);
            }
            catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
            {
                throw new UsageException($"{option} '{path}' is not a valid path.", ex);
            }

            foreach (var (otherOption, otherPath, otherFull) in seen)
            {
                if (string.Equals(full, otherFull, comparison))
                {
                    var where = otherPath == path ? $"'{path}'" : $"'{otherPath}' and '{path}' (both '{full}')";
                    throw new UsageException($"{otherOption} and {option} both write {where}: one would overwrite the other; give each its own file.");
                }
            }

            seen.Add((option, path, full));
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
}
