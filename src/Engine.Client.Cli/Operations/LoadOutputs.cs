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

            var suffix = shard.Count > 1 ? string.Create(CultureInfo.InvariantCulture, $"-shard-{shard.Index}-of-{shard.Count}") : "";
            json = Path.Combine(directory, $"result{suffix}.json");
            html ??= Path.Combine(directory, $"report{suffix}.html");
            csv ??= Path.Combine(directory, $"result{suffix}.csv");
            hdrLog ??= Path.Combine(directory, $"histograms{suffix}.hlog");
            intervals ??= Path.Combine(directory, $"intervals{suffix}.jsonl");
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

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/>; a failure is an output error.</summary>
    public static void WriteFile(string path, string option, string text)
    {
        try
        {
            File.WriteAllText(path, text, new UTF8Encoding(false));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option} '{path}' cannot be written: {InputFiles.Describe(path, ex)}", ex);
        }
    }
}
