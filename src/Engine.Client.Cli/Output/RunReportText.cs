using Engine.Client.Cli.Operations;
using Engine.Client.Protocol;

namespace Engine.Client.Cli.Output;

/// <summary>The readable summary of a run (without <c>--json</c>).</summary>
internal static class RunReportText
{
    public static void Write(RunReport report, Renderer output)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(output);
        var mark = report.Outcome == RunOutcome.Finished ? Mark.Good : Mark.Bad;
        output.Marked(mark, RunReportJson.OutcomeName(report.Outcome), $"exit code {report.ExitCode}");
        output.KeyValues(
        [
            ("worker", report.Worker ?? "(none)"),
            ("format", report.Format),
            ("sent", Formats.Traffic(report.Sent.Batches, report.Sent.Rows, report.Sent.Bytes)),
            ("received", Formats.Traffic(report.Received.Batches, report.Received.Rows, report.Received.Bytes, report.Received.BatchesRead)),
            ("duration", Formats.Seconds(report.Duration)),
            ("init data", Arrow.ArrowSchemaText.TryDescribe(report.InitData) ?? Formats.Data(report.InitData)),
            ("finish data", Formats.Data(report.FinishData)),
        ]);

        if (report.Error is { } error)
        {
            output.Line();
            output.Heading("Error");
            WriteError(error, output);
        }

        if (report.OutputPath is { } path)
        {
            output.Line();
            var where = path == "-" ? "stdout" : path;
            output.Line(report.ExitCode == 0
                ? $"Output written to {where}."
                : $"Output to {where} is incomplete: the run did not finish (what was written so far stays).");
        }
        else if (report.Preview is { Rows.Count: > 0 } preview)
        {
            output.Line();
            output.Heading(preview.Title ?? (preview.Complete ? "Output" : $"Output (first {preview.Rows.Count}; use --output to keep all of it)"));
            output.Table(preview.Columns, preview.Rows);
        }

        if (report.Metrics is { } metrics)
        {
            output.Line();
            output.Heading("Session metrics (the worker's ExecutionMetrics)");
            WriteMetrics(metrics, output);
        }
    }

    public static void WriteError(RunError error, Renderer output)
    {
        var rows = new List<(string, string)>
        {
            ("kind", RunReportJson.ErrorKindName(error.Kind)),
            ("message", Message(error)),
        };
        if (error.ErrorClass is not null)
        {
            rows.Add(("class", string.IsNullOrWhiteSpace(error.ErrorClass) ? "(the worker sent an empty class)" : error.ErrorClass));
        }

        if (error.Origin is not null)
        {
            rows.Add(("origin", error.Origin));
        }

        if (error.Reason is not null)
        {
            rows.Add(("reason", error.Reason));
        }

        output.KeyValues(rows);
        if (error.Traceback is not null)
        {
            if (string.IsNullOrWhiteSpace(error.Traceback))
            {
                output.Line("  traceback: (the worker sent an empty traceback)");
                return;
            }

            output.Line("  traceback:");
            foreach (var line in TerminalText.Lines(error.Traceback))
            {
                output.Line("    " + line);
            }
        }
    }

    /// <summary>
    /// The error's message to show: the worker's (or engine-client's) text, or, when a worker
    /// sent an empty one, a sentence saying so (the JSON report keeps the message as received).
    /// </summary>
    public static string Message(RunError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (!string.IsNullOrWhiteSpace(error.Message))
        {
            return error.Message;
        }

        var noClass = error.Kind == RunErrorKind.User && string.IsNullOrWhiteSpace(error.ErrorClass);
        return noClass ? "(the worker sent no message and no error class)" : "(the worker sent no message)";
    }

    public static void WriteMetrics(ExecutionMetrics metrics, Renderer output)
    {
        var rows = new List<(string, string)>();
        foreach (var (name, value) in RunReportJson.MetricFields(metrics))
        {
            rows.Add((name, value is not { } v ? "(not reported)"
                : name.EndsWith("Nanos", StringComparison.Ordinal) ? Formats.Nanos(v)
                : name.StartsWith("bytes", StringComparison.Ordinal) ? Formats.Bytes((long)v)
                : Formats.Count((long)v)));
        }

        output.KeyValues(rows);
    }
}
