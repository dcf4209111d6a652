using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Engine.Client.Cli.Operations;
using Engine.Client.Protocol;

namespace Engine.Client.Cli.Output;

/// <summary>
/// The JSON object <c>engine-client run --json</c> prints (docs/cli.md, "JSON output of run"):
/// every field always present, in a fixed order; unknown values are <c>null</c>.
/// </summary>
internal static class RunReportJson
{
    public static string Write(RunReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, JsonOutput.WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("outcome", OutcomeName(report.Outcome));
            json.WriteNumber("exitCode", report.ExitCode);
            JsonOutput.WriteStringOrNull(json, "worker", report.Worker);
            json.WriteString("format", report.Format);
            WriteError(json, report.Error);
            WriteTraffic(json, "sent", report.Sent);
            WriteTraffic(json, "received", report.Received);
            WriteMetrics(json, report.Metrics);
            WriteBytes(json, "initData", report.InitData);
            WriteBytes(json, "finishData", report.FinishData);
            json.WriteNumber("durationSeconds", Math.Round(report.Duration.TotalSeconds, 6));
            JsonOutput.WriteStringOrNull(json, "output", report.OutputPath);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static string OutcomeName(RunOutcome outcome) => outcome switch
    {
        RunOutcome.Finished => "finished",
        RunOutcome.Cancelled => "cancelled",
        RunOutcome.Failed => "failed",
        RunOutcome.TransportFailed => "transport_failed",
        _ => "interrupted",
    };

    public static string ErrorKindName(RunErrorKind kind) => kind switch
    {
        RunErrorKind.User => "user",
        RunErrorKind.Worker => "worker",
        RunErrorKind.Protocol => "protocol",
        RunErrorKind.Transport => "transport",
        RunErrorKind.Input => "input",
        _ => "output",
    };

    /// <summary>The <c>ExecutionMetrics</c> fields in order, by their JSON names; <see langword="null"/> when the worker left one unset.</summary>
    public static IReadOnlyList<(string Name, ulong? Value)> MetricFields(ExecutionMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        return
        [
            ("bytesIn", metrics.HasBytesIn ? metrics.BytesIn : null),
            ("bytesOut", metrics.HasBytesOut ? metrics.BytesOut : null),
            ("rowsIn", metrics.HasRowsIn ? metrics.RowsIn : null),
            ("rowsOut", metrics.HasRowsOut ? metrics.RowsOut : null),
            ("batchesIn", metrics.HasBatchesIn ? metrics.BatchesIn : null),
            ("batchesOut", metrics.HasBatchesOut ? metrics.BatchesOut : null),
            ("initWallNanos", metrics.HasInitWallNanos ? metrics.InitWallNanos : null),
            ("processingWallNanos", metrics.HasProcessingWallNanos ? metrics.ProcessingWallNanos : null),
            ("receiveWallNanos", metrics.HasReceiveWallNanos ? metrics.ReceiveWallNanos : null),
            ("sendWallNanos", metrics.HasSendWallNanos ? metrics.SendWallNanos : null),
            ("workWallNanos", metrics.HasWorkWallNanos ? metrics.WorkWallNanos : null),
            ("workCpuNanos", metrics.HasWorkCpuNanos ? metrics.WorkCpuNanos : null),
        ];
    }

    private static void WriteError(Utf8JsonWriter json, RunError? error)
    {
        if (error is null)
        {
            json.WriteNull("error");
            return;
        }

        json.WriteStartObject("error");
        json.WriteString("kind", ErrorKindName(error.Kind));
        json.WriteString("message", error.Message);
        JsonOutput.WriteStringOrNull(json, "errorClass", error.ErrorClass);
        JsonOutput.WriteStringOrNull(json, "traceback", error.Traceback);
        JsonOutput.WriteStringOrNull(json, "origin", error.Origin);
        JsonOutput.WriteStringOrNull(json, "reason", error.Reason);
        json.WriteEndObject();
    }

    private static void WriteTraffic(Utf8JsonWriter json, string name, Traffic traffic)
    {
        json.WriteStartObject(name);
        json.WriteNumber("batches", traffic.Batches);
        if (traffic.Rows is { } rows)
        {
            json.WriteNumber("rows", rows);
        }
        else
        {
            json.WriteNull("rows");
        }

        json.WriteNumber("bytes", traffic.Bytes);
        json.WriteEndObject();
    }

    private static void WriteMetrics(Utf8JsonWriter json, ExecutionMetrics? metrics)
    {
        if (metrics is null)
        {
            json.WriteNull("metrics");
            return;
        }

        json.WriteStartObject("metrics");
        foreach (var (name, value) in MetricFields(metrics))
        {
            if (value is { } v)
            {
                json.WriteNumber(name, v);
            }
            else
            {
                json.WriteNull(name);
            }
        }

        json.WriteEndObject();
    }

    private static void WriteBytes(Utf8JsonWriter json, string name, ReadOnlyMemory<byte>? bytes)
    {
        if (bytes is { } value)
        {
            json.WriteBase64String(name, value.Span);
        }
        else
        {
            json.WriteNull(name);
        }
    }
}

/// <summary>Shared JSON settings: indented, UTF-8 text unescaped where safe, one object per command.</summary>
internal static class JsonOutput
{
    public static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void WriteStringOrNull(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    /// <summary>Builds one JSON document with <paramref name="write"/>.</summary>
    public static string Document(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            write(json);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
