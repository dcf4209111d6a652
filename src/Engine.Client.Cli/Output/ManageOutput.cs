using System.Text.Json;
using Engine.Client.Cli.Operations;

namespace Engine.Client.Cli.Output;

/// <summary>JSON of <c>heartbeat --json</c> and <c>shutdown --json</c> (docs/cli.md).</summary>
internal static class ManageJson
{
    public static string Heartbeat(ManageReport report) => JsonOutput.Document(json => WriteHeartbeat(json, report));

    public static void WriteHeartbeat(Utf8JsonWriter json, ManageReport report)
    {
        json.WriteStartObject();
        WriteCommon(json, report);
        if (report.Metrics is { } metrics)
        {
            json.WriteStartObject("metrics");
            foreach (var (key, value) in metrics.OrderBy(m => m.Key, StringComparer.Ordinal))
            {
                json.WriteString(key, value);
            }

            json.WriteEndObject();
        }
        else
        {
            json.WriteNull("metrics");
        }

        WriteError(json, report.Error);
        json.WriteEndObject();
    }

    public static string Shutdown(ManageReport report) => JsonOutput.Document(json => WriteShutdown(json, report));

    public static void WriteShutdown(Utf8JsonWriter json, ManageReport report)
    {
        json.WriteStartObject();
        WriteCommon(json, report);
        if (report.SessionsSettled is { } settled)
        {
            json.WriteBoolean("sessionsSettled", settled);
        }
        else
        {
            json.WriteNull("sessionsSettled");
        }

        WriteError(json, report.Error);
        json.WriteEndObject();
    }

    internal static void WriteError(Utf8JsonWriter json, RunError? error)
    {
        if (error is null)
        {
            json.WriteNull("error");
            return;
        }

        json.WriteStartObject("error");
        json.WriteString("kind", RunReportJson.ErrorKindName(error.Kind));
        json.WriteString("message", error.Message);
        JsonOutput.WriteStringOrNull(json, "reason", error.Reason);
        json.WriteEndObject();
    }

    private static void WriteCommon(Utf8JsonWriter json, ManageReport report)
    {
        json.WriteString("worker", report.Worker);
        json.WriteBoolean("ok", report.Answered);
        json.WriteNumber("exitCode", report.ExitCode);
        if (report.RoundTrip is { } roundTrip)
        {
            json.WriteNumber("roundTripMs", Math.Round(roundTrip.TotalMilliseconds, 3));
        }
        else
        {
            json.WriteNull("roundTripMs");
        }
    }
}

/// <summary>Readable output of <c>heartbeat</c> and <c>shutdown</c>.</summary>
internal static class ManageText
{
    public static void Heartbeat(ManageReport report, Renderer output)
    {
        if (!Answered(report, "heartbeat", output))
        {
            return;
        }

        output.Marked(Mark.Good, "heartbeat answered", $"by {report.Worker} in {Formats.Milliseconds(report.RoundTrip!.Value)}");
        if (report.Metrics is { Count: > 0 } metrics)
        {
            output.Heading("Worker status (the heartbeat's metrics)");
            output.KeyValues([.. metrics.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => (m.Key, m.Value))]);
        }
        else
        {
            output.Line("The worker reported no metrics.");
        }
    }

    public static void Shutdown(ManageReport report, Renderer output)
    {
        if (!Answered(report, "shutdown", output))
        {
            return;
        }

        output.Marked(
            Mark.Good,
            "shutdown answered",
            $"by {report.Worker} in {Formats.Milliseconds(report.RoundTrip!.Value)}; sessions settled: {(report.SessionsSettled == true ? "yes" : "no")}");
    }

    private static bool Answered(ManageReport report, string what, Renderer output)
    {
        if (report.Error is not { } error)
        {
            return true;
        }

        output.Marked(Mark.Bad, $"no {what} answer", $"from {report.Worker}");
        RunReportText.WriteError(error, output);
        return false;
    }
}
