using System.Text.Json;
using Engine.Client.Cli.Operations;

namespace Engine.Client.Cli.Output;

/// <summary>JSON and text of <c>fleet status</c>, and of <c>heartbeat</c> and <c>shutdown</c> on several workers (docs/cli.md).</summary>
internal static class FleetOutput
{
    public static string StateName(FleetWorkerState state) => state switch
    {
        FleetWorkerState.Healthy => "healthy",
        FleetWorkerState.Ejected => "ejected",
        _ => "draining",
    };

    public static string StatusJson(FleetReport report) => JsonOutput.Document(json =>
    {
        json.WriteStartObject();
        json.WriteString("fleet", report.Fleet);
        json.WriteNumber("exitCode", report.ExitCode);
        JsonOutput.WriteStringOrNull(json, "error", report.Error);
        json.WriteStartArray("workers");
        foreach (var worker in report.Workers)
        {
            var answered = worker.LastHeartbeatAge is not null && worker.State == FleetWorkerState.Healthy;
            json.WriteStartObject();
            json.WriteString("address", worker.Address);
            JsonOutput.WriteStringOrNull(json, "identity", worker.Identity);
            json.WriteString("state", StateName(worker.State));
            json.WriteNumber("sessionsInFlight", worker.SessionsInFlight);
            WriteNumberOrNull(json, "reportedLoad", worker.ReportedLoad);
            WriteNumberOrNull(json, "sessionLimit", worker.SessionLimit);
            if (worker.LastHeartbeatAge is { } age)
            {
                json.WriteNumber("lastHeartbeatAgeMs", Math.Round(age.TotalMilliseconds, 3));
            }
            else
            {
                json.WriteNull("lastHeartbeatAgeMs");
            }

            JsonOutput.WriteStringOrNull(json, "error", answered ? null : worker.LastFailure ?? "no answer");
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    });

    public static void StatusText(FleetReport report, Renderer output)
    {
        if (report.Workers.Count == 0)
        {
            output.Marked(Mark.Bad, "no worker", $"in {report.Fleet}: {report.Error}");
            return;
        }

        var healthy = report.Workers.Count(w => w.State == FleetWorkerState.Healthy && w.LastHeartbeatAge is not null);
        output.Marked(healthy == report.Workers.Count ? Mark.Good : Mark.Bad, "fleet", $"{healthy} of {report.Workers.Count} workers healthy ({report.Fleet})");
        output.Table(
            ["address", "identity", "state", "in flight", "reported load", "last heartbeat"],
            [.. report.Workers.Select(w => (IReadOnlyList<string>)
            [
                w.Address,
                w.Identity ?? "-",
                StateName(w.State),
                w.SessionsInFlight.ToString(System.Globalization.CultureInfo.InvariantCulture),
                w.ReportedLoad?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-",
                w.LastHeartbeatAge is { } age ? Formats.Milliseconds(age) + " ago" : "never",
            ])]);
        foreach (var worker in report.Workers.Where(w => w.State != FleetWorkerState.Healthy || w.LastHeartbeatAge is null))
        {
            output.Marked(Mark.Bad, worker.Address, worker.LastFailure ?? "no answer");
        }
    }

    /// <summary><c>heartbeat --json</c> or <c>shutdown --json</c> on several workers: an object with one object per worker, as for one.</summary>
    public static string CallsJson(FleetReport report, Action<Utf8JsonWriter, ManageReport> writeOne) => JsonOutput.Document(json =>
    {
        json.WriteStartObject();
        json.WriteString("fleet", report.Fleet);
        json.WriteNumber("exitCode", report.ExitCode);
        JsonOutput.WriteStringOrNull(json, "error", report.Error);
        json.WriteStartArray("workers");
        foreach (var call in report.Calls)
        {
            writeOne(json, call);
        }

        json.WriteEndArray();
        json.WriteEndObject();
    });

    public static void CallsText(FleetReport report, Renderer output, Action<ManageReport, Renderer> writeOne)
    {
        if (report.Calls.Count == 0)
        {
            output.Marked(Mark.Bad, "no worker", $"in {report.Fleet}: {report.Error}");
            return;
        }

        foreach (var call in report.Calls)
        {
            writeOne(call, output);
        }
    }

    private static void WriteNumberOrNull(Utf8JsonWriter json, string name, int? value)
    {
        if (value is { } number)
        {
            json.WriteNumber(name, number);
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
