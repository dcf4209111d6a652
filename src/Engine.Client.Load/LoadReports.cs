using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using HdrHistogram;

namespace Engine.Client.Load;

/// <summary>
/// A result's reports: the JSON summary (a stable, versioned schema that also carries every
/// histogram, so that shards merge exactly), CSV, HdrHistogram interval logs and a self-contained
/// HTML page.
/// </summary>
public static partial class LoadReports
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// The JSON summary of <paramref name="result"/> (docs/load-testing.md, "JSON schema"): indented
    /// UTF-8, every field always present, unknown values <see langword="null"/>, latencies in
    /// milliseconds, every histogram also encoded (HdrHistogram V2 compressed, base64).
    /// </summary>
    /// <param name="result">The result.</param>
    /// <returns>The JSON text, without a trailing newline.</returns>
    public static string ToJson(LoadResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, WriterOptions))
        {
            WriteJson(w, result);
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Reads a result written by <see cref="ToJson"/>, histograms included.</summary>
    /// <param name="json">The JSON text.</param>
    /// <exception cref="FormatException">The text is not such a result, or its schema version is not supported (the message says which).</exception>
    public static LoadResult FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var document = JsonDocument.Parse(json);
            return ReadJson(document.RootElement);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"not JSON: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException)
        {
            throw new FormatException($"not a load test result: {ex.Message}", ex);
        }
    }

    private static void WriteJson(Utf8JsonWriter w, LoadResult r)
    {
        w.WriteStartObject();
        w.WriteNumber("schemaVersion", r.SchemaVersion);
        w.WriteString("tool", "engine-client load");
        w.WriteString("startedAt", r.StartedAt.ToString("O", CultureInfo.InvariantCulture));
        w.WriteNumber("seconds", r.Seconds);
        w.WriteBoolean("interrupted", r.Interrupted);
        w.WriteString("model", r.Model == LoadModelKind.Open ? "open" : "closed");
        w.WriteNumber("target", r.Target);
        WriteStrings(w, "shards", r.Shards);
        WriteStrings(w, "runs", r.Runs);
        WriteStrings(w, "hosts", r.Hosts);
        WriteStrings(w, "sources", r.Sources);
        w.WriteStartObject("configuration");
        foreach (var (key, value) in r.Configuration)
        {
            w.WriteString(key, value);
        }

        w.WriteEndObject();

        var s = r.Sessions;
        w.WriteStartObject("sessions");
        w.WriteNumber("started", s.Started);
        w.WriteNumber("finished", s.Finished);
        w.WriteNumber("cancelled", s.Cancelled);
        w.WriteStartObject("failed");
        w.WriteNumber("total", s.FailedTotal);
        foreach (var (kind, count) in s.Failed.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            w.WriteNumber(kind, count);
        }

        w.WriteEndObject();
        w.WriteNumber("behindSchedule", s.BehindSchedule);
        w.WriteNumber("notStarted", s.NotStarted);
        w.WriteNumber("warmup", s.Warmup);
        w.WriteNumber("abandoned", s.Abandoned);
        w.WriteNumber("errorRatio", Math.Round(r.ErrorRatio, 6));
        w.WriteEndObject();

        w.WriteStartObject("latency");
        foreach (var phase in Phases(r))
        {
            w.WritePropertyName(phase);
            WriteHistogram(w, r.Latency[phase]);
        }

        w.WriteEndObject();
        w.WriteStartObject("initChunks");
        foreach (var (scenario, chunks) in r.InitChunks)
        {
            w.WriteNumber(scenario, chunks);
        }

        w.WriteEndObject();

        w.WritePropertyName("throughput");
        WriteThroughput(w, r.Traffic, r.Seconds, r.Sessions.Finished);

        w.WriteStartArray("workers");
        foreach (var worker in r.Workers)
        {
            w.WriteStartObject();
            w.WriteString("worker", worker.Worker);
            w.WriteNumber("sessions", worker.Sessions);
            w.WriteNumber("finished", worker.Finished);
            w.WriteNumber("cancelled", worker.Cancelled);
            w.WriteNumber("failed", worker.Failed);
            w.WriteNumber("abandoned", worker.Abandoned);
            w.WriteNumber("heartbeats", worker.Heartbeats);
            w.WriteNumber("heartbeatsFailed", worker.HeartbeatsFailed);
            w.WritePropertyName("throughput");
            WriteThroughput(w, worker.Traffic, r.Seconds, worker.Finished);
            w.WritePropertyName("session");
            WriteHistogram(w, worker.Session);
            w.WriteEndObject();
        }

        w.WriteEndArray();

        w.WriteStartArray("errors");
        foreach (var error in r.Errors)
        {
            w.WriteStartObject();
            w.WriteString("kind", error.Key);
            w.WriteString("outcome", error.Outcome);
            w.WriteString("errorKind", error.ErrorKind);
            w.WriteString("status", error.Status);
            w.WriteNumber("count", error.Count);
            WriteStrings(w, "messages", error.Messages);
            w.WriteEndObject();
        }

        w.WriteEndArray();

        w.WriteStartArray("generator");
        foreach (var g in r.Generators)
        {
            w.WriteStartObject();
            w.WriteString("host", g.Host);
            w.WriteNumber("cores", g.Cores);
            w.WriteNumber("cpuPercentMean", g.CpuPercentMean);
            w.WriteNumber("cpuPercentMax", g.CpuPercentMax);
            w.WriteNumber("gcPauseMs", g.GcPauseMilliseconds);
            w.WriteNumber("gcPausePercent", g.GcPausePercent);
            w.WriteNumber("allocatedBytesPerSecond", g.AllocatedBytesPerSecond);
            w.WriteNumber("threadPoolQueueMax", g.ThreadPoolQueueMax);
            w.WriteNumber("threadPoolQueueMean", g.ThreadPoolQueueMean);
            WriteStrings(w, "warnings", g.Warnings);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        WriteStrings(w, "warnings", r.Generators.SelectMany(g => g.Warnings).ToList());

        w.WriteStartArray("thresholds");
        foreach (var t in r.Thresholds)
        {
            w.WriteStartObject();
            w.WriteString("expression", t.Expression);
            w.WriteBoolean("passed", t.Passed);
            if (t.Actual is { } actual)
            {
                w.WriteNumber("actual", Math.Round(actual, 6));
            }
            else
            {
                w.WriteNull("actual");
            }

            w.WriteString("actualText", t.ActualText);
            w.WriteEndObject();
        }

        w.WriteEndArray();

        w.WriteStartArray("intervals");
        foreach (var i in r.Intervals)
        {
            WriteInterval(w, i, withHistogram: true);
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>One interval as a JSON object (the records of <c>--intervals</c> and of the result's <c>intervals</c>).</summary>
    /// <param name="interval">The interval.</param>
    /// <returns>One line of JSON.</returns>
    public static string IntervalJson(LoadInterval interval)
    {
        ArgumentNullException.ThrowIfNull(interval);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            WriteInterval(w, interval, withHistogram: false);
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteInterval(Utf8JsonWriter w, LoadInterval i, bool withHistogram)
    {
        w.WriteStartObject();
        w.WriteNumber("index", i.Index);
        w.WriteNumber("start", i.StartSeconds);
        w.WriteNumber("seconds", i.Seconds);
        w.WriteBoolean("warmup", i.Warmup);
        w.WriteNumber("target", i.Target);
        w.WriteNumber("started", i.Started);
        w.WriteNumber("warmupStarted", i.WarmupStarted);
        w.WriteNumber("finished", i.Finished);
        w.WriteNumber("cancelled", i.Cancelled);
        w.WriteNumber("failed", i.Failed);
        w.WriteNumber("notStarted", i.NotStarted);
        w.WriteNumber("behindSchedule", i.BehindSchedule);
        w.WriteNumber("inFlight", i.InFlight);
        w.WriteNumber("batchesSent", i.Traffic.BatchesSent);
        w.WriteNumber("rowsSent", i.Traffic.RowsSent);
        w.WriteNumber("bytesSent", i.Traffic.BytesSent);
        w.WriteNumber("batchesReceived", i.Traffic.BatchesReceived);
        w.WriteNumber("rowsReceived", i.Traffic.RowsReceived);
        w.WriteNumber("bytesReceived", i.Traffic.BytesReceived);
        WriteNullable(w, "sessionP50", i.SessionP50);
        WriteNullable(w, "sessionP90", i.SessionP90);
        WriteNullable(w, "sessionP99", i.SessionP99);
        WriteNullable(w, "sessionMax", i.SessionMax);
        w.WriteNumber("cpuPercent", i.CpuPercent);
        w.WriteNumber("gcPauseMs", i.GcPauseMilliseconds);
        w.WriteNumber("allocatedBytes", i.AllocatedBytes);
        w.WriteNumber("threadPoolQueue", i.ThreadPoolQueue);
        if (withHistogram)
        {
            w.WriteString("sessionHistogram", i.SessionHistogram);
        }

        w.WriteEndObject();
    }

    private static void WriteThroughput(Utf8JsonWriter w, LoadTraffic t, double seconds, long finished)
    {
        double Rate(long count) => seconds > 0 ? Math.Round(count / seconds, 3) : 0;
        w.WriteStartObject();
        w.WriteNumber("seconds", seconds);
        w.WriteNumber("sessionsPerSecond", Rate(finished));
        w.WriteNumber("batchesSent", t.BatchesSent);
        w.WriteNumber("rowsSent", t.RowsSent);
        w.WriteNumber("bytesSent", t.BytesSent);
        w.WriteNumber("batchesReceived", t.BatchesReceived);
        w.WriteNumber("rowsReceived", t.RowsReceived);
        w.WriteNumber("bytesReceived", t.BytesReceived);
        w.WriteNumber("batchesSentPerSecond", Rate(t.BatchesSent));
        w.WriteNumber("rowsSentPerSecond", Rate(t.RowsSent));
        w.WriteNumber("bytesSentPerSecond", Rate(t.BytesSent));
        w.WriteNumber("batchesReceivedPerSecond", Rate(t.BatchesReceived));
        w.WriteNumber("rowsReceivedPerSecond", Rate(t.RowsReceived));
        w.WriteNumber("bytesReceivedPerSecond", Rate(t.BytesReceived));
        w.WriteEndObject();
    }

    private static void WriteHistogram(Utf8JsonWriter w, HistogramBase h)
    {
        w.WriteStartObject();
        w.WriteNumber("count", h.TotalCount);
        WriteNullable(w, "p50", LatencyHistograms.Millis(h, 50));
        WriteNullable(w, "p90", LatencyHistograms.Millis(h, 90));
        WriteNullable(w, "p99", LatencyHistograms.Millis(h, 99));
        WriteNullable(w, "p999", LatencyHistograms.Millis(h, 99.9));
        WriteNullable(w, "max", LatencyHistograms.MaxMillis(h));
        WriteNullable(w, "min", h.TotalCount == 0 ? null : h.LowestEquivalentValue(MinValue(h)) / 1000.0);
        WriteNullable(w, "mean", h.TotalCount == 0 ? null : Math.Round(h.GetMean() / 1000.0, 3));
        w.WriteString("histogram", LatencyHistograms.Encode(h));
        w.WriteEndObject();
    }

    private static long MinValue(HistogramBase h)
    {
        foreach (var value in h.RecordedValues())
        {
            return value.ValueIteratedTo;
        }

        return 0;
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, Math.Round(v, 3));
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, IReadOnlyList<string> values)
    {
        w.WriteStartArray(name);
        foreach (var value in values)
        {
            w.WriteStringValue(value);
        }

        w.WriteEndArray();
    }

    /// <summary>The phases to report, in order: every known phase, then any other the result holds.</summary>
    internal static IEnumerable<string> Phases(LoadResult r) =>
        LoadPhases.All.Where(r.Latency.ContainsKey).Concat(r.Latency.Keys.Where(k => !LoadPhases.All.Contains(k)).Order(StringComparer.Ordinal));

    // ---- Reading.

    private static LoadResult ReadJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("schemaVersion", out var version) || version.ValueKind != JsonValueKind.Number)
        {
            throw new FormatException("not a load test result: no schemaVersion.");
        }

        if (!version.TryGetInt32(out var schema) || schema != LoadResult.CurrentSchemaVersion)
        {
            throw new FormatException($"schemaVersion {version.GetRawText()} is not supported; this version reads {LoadResult.CurrentSchemaVersion}.");
        }

        if (root.TryGetProperty("ran", out var ran) && ran.ValueKind == JsonValueKind.False)
        {
            var why = root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String
                ? message.GetString()
                : "interrupted before it started";
            throw new FormatException($"the output of a load test that did not run ({why}): it holds no result to read; leave it out.");
        }

        // Every field is read by name and path, so that a malformed result says which field is
        // missing or of the wrong kind (a FormatException), never in the JSON library's words.
        var sessions = Object(root, "", "sessions");
        var failed = Object(sessions, "sessions", "failed").EnumerateObject().Where(p => p.Name != "total")
            .ToDictionary(p => p.Name, p => Long(p.Value, $"sessions.failed.{p.Name}"), StringComparer.Ordinal);
        var latency = Object(root, "", "latency").EnumerateObject()
            .ToDictionary(p => p.Name, p => (HistogramBase)ReadHistogram(p.Value, $"latency.{p.Name}"), StringComparer.Ordinal);
        var startedAtText = String(root, "", "startedAt");
        if (!DateTimeOffset.TryParse(startedAtText, CultureInfo.InvariantCulture, DateTimeStyles.None, out var startedAt))
        {
            throw new FormatException($"startedAt '{startedAtText}' is not a date and time.");
        }

        return new LoadResult
        {
            SchemaVersion = schema,
            StartedAt = startedAt,
            Seconds = Double(root, "", "seconds"),
            Interrupted = Bool(root, "", "interrupted"),
            Model = String(root, "", "model") == "open" ? LoadModelKind.Open : LoadModelKind.Closed,
            Target = Double(root, "", "target"),
            Shards = Strings(root, "", "shards"),
            Runs = root.TryGetProperty("runs", out _) ? Strings(root, "", "runs") : [],
            Hosts = Strings(root, "", "hosts"),
            Sources = Strings(root, "", "sources"),
            Configuration = Object(root, "", "configuration").EnumerateObject().ToDictionary(p => p.Name, p => OptionalString(p.Value, $"configuration.{p.Name}") ?? "", StringComparer.Ordinal),
            Sessions = new LoadSessionCounts
            {
                Started = Long(sessions, "sessions", "started"),
                Finished = Long(sessions, "sessions", "finished"),
                Cancelled = Long(sessions, "sessions", "cancelled"),
                Failed = failed,
                BehindSchedule = Long(sessions, "sessions", "behindSchedule"),
                NotStarted = Long(sessions, "sessions", "notStarted"),
                Warmup = Long(sessions, "sessions", "warmup"),
                Abandoned = Long(sessions, "sessions", "abandoned"),
            },
            Latency = latency,
            InitChunks = Object(root, "", "initChunks").EnumerateObject().ToDictionary(p => p.Name, p => Int(p.Value, $"initChunks.{p.Name}"), StringComparer.Ordinal),
            Traffic = ReadTraffic(Object(root, "", "throughput"), "throughput"),
            Workers = [.. Array(root, "", "workers").Select((e, i) => ReadWorker(e, $"workers[{i}]"))],
            Errors = [.. Array(root, "", "errors").Select((e, i) => ReadError(e, $"errors[{i}]"))],
            Generators = [.. Array(root, "", "generator").Select((e, i) => ReadGenerator(e, $"generator[{i}]"))],
            Intervals = [.. Array(root, "", "intervals").Select((e, i) => ReadInterval(e, $"intervals[{i}]"))],
            Thresholds = [.. Array(root, "", "thresholds").Select((e, i) => ReadThreshold(e, $"thresholds[{i}]"))],
        };
    }

    private static LoadWorkerFigures ReadWorker(JsonElement e, string path)
    {
        Check(e, path, JsonValueKind.Object, "an object");
        return new LoadWorkerFigures
        {
            Worker = String(e, path, "worker"),
            Sessions = Long(e, path, "sessions"),
            Finished = Long(e, path, "finished"),
            Cancelled = Long(e, path, "cancelled"),
            Failed = Long(e, path, "failed"),
            Abandoned = OptionalLong(e, path, "abandoned"),
            Heartbeats = OptionalLong(e, path, "heartbeats"),
            HeartbeatsFailed = OptionalLong(e, path, "heartbeatsFailed"),
            Traffic = ReadTraffic(Object(e, path, "throughput"), $"{path}.throughput"),
            Session = ReadHistogram(Object(e, path, "session"), $"{path}.session"),
        };
    }

    private static LoadErrorKind ReadError(JsonElement e, string path)
    {
        Check(e, path, JsonValueKind.Object, "an object");
        return new LoadErrorKind
        {
            Outcome = String(e, path, "outcome"),
            ErrorKind = OptionalString(Field(e, path, "errorKind"), $"{path}.errorKind"),
            Status = OptionalString(Field(e, path, "status"), $"{path}.status"),
            Count = Long(e, path, "count"),
            Messages = Strings(e, path, "messages"),
        };
    }

    private static LoadGeneratorFigures ReadGenerator(JsonElement e, string path)
    {
        Check(e, path, JsonValueKind.Object, "an object");
        return new LoadGeneratorFigures
        {
            Host = OptionalString(Field(e, path, "host"), $"{path}.host") ?? "",
            Cores = Int(Field(e, path, "cores"), $"{path}.cores"),
            CpuPercentMean = Double(e, path, "cpuPercentMean"),
            CpuPercentMax = Double(e, path, "cpuPercentMax"),
            GcPauseMilliseconds = Double(e, path, "gcPauseMs"),
            GcPausePercent = Double(e, path, "gcPausePercent"),
            AllocatedBytesPerSecond = Double(e, path, "allocatedBytesPerSecond"),
            ThreadPoolQueueMax = Long(e, path, "threadPoolQueueMax"),
            ThreadPoolQueueMean = Double(e, path, "threadPoolQueueMean"),
            Warnings = Strings(e, path, "warnings"),
        };
    }

    private static LoadThresholdResult ReadThreshold(JsonElement e, string path)
    {
        Check(e, path, JsonValueKind.Object, "an object");
        var actual = Field(e, path, "actual");
        return new LoadThresholdResult(
            String(e, path, "expression"),
            Bool(e, path, "passed"),
            actual.ValueKind == JsonValueKind.Number ? Double(actual, $"{path}.actual") : null,
            OptionalString(Field(e, path, "actualText"), $"{path}.actualText") ?? "");
    }

    private static LongHistogram ReadHistogram(JsonElement e, string path)
    {
        Check(e, path, JsonValueKind.Object, "an object");
        if (OptionalString(Field(e, path, "histogram"), $"{path}.histogram") is not { } encoded)
        {
            return LatencyHistograms.Create();
        }

        try
        {
            return LatencyHistograms.Decode(encoded);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or InvalidOperationException or IndexOutOfRangeException or IOException or InvalidDataException)
        {
            throw new FormatException($"{path}.histogram is not an encoded histogram.", ex);
        }
    }

    private static LoadTraffic ReadTraffic(JsonElement e, string path) => new()
    {
        BatchesSent = Long(e, path, "batchesSent"),
        RowsSent = Long(e, path, "rowsSent"),
        BytesSent = Long(e, path, "bytesSent"),
        BatchesReceived = Long(e, path, "batchesReceived"),
        RowsReceived = Long(e, path, "rowsReceived"),
        BytesReceived = Long(e, path, "bytesReceived"),
    };

    private static LoadInterval ReadInterval(JsonElement e, string path)
    {
        Check(e, path, JsonValueKind.Object, "an object");
        return new LoadInterval
        {
            Index = Int(Field(e, path, "index"), $"{path}.index"),
            StartSeconds = Double(e, path, "start"),
            Seconds = Double(e, path, "seconds"),
            Warmup = Bool(e, path, "warmup"),
            Target = Double(e, path, "target"),
            Started = Long(e, path, "started"),
            WarmupStarted = OptionalLong(e, path, "warmupStarted"),
            Finished = Long(e, path, "finished"),
            Cancelled = Long(e, path, "cancelled"),
            Failed = Long(e, path, "failed"),
            NotStarted = Long(e, path, "notStarted"),
            BehindSchedule = Long(e, path, "behindSchedule"),
            InFlight = Long(e, path, "inFlight"),
            Traffic = ReadTraffic(e, path),
            SessionP50 = Nullable(e, path, "sessionP50"),
            SessionP90 = Nullable(e, path, "sessionP90"),
            SessionP99 = Nullable(e, path, "sessionP99"),
            SessionMax = Nullable(e, path, "sessionMax"),
            CpuPercent = Double(e, path, "cpuPercent"),
            GcPauseMilliseconds = Double(e, path, "gcPauseMs"),
            AllocatedBytes = Long(e, path, "allocatedBytes"),
            ThreadPoolQueue = Long(e, path, "threadPoolQueue"),
            SessionHistogram = e.TryGetProperty("sessionHistogram", out var h) ? OptionalString(h, $"{path}.sessionHistogram") : null,
        };
    }

    // Readers of one field, by the field's path in the result ("sessions.started", "intervals[2].index").

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    private static JsonElement Field(JsonElement parent, string path, string name) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var value)
            ? value
            : throw new FormatException($"{Join(path, name)} is missing.");

    private static void Check(JsonElement e, string path, JsonValueKind kind, string what)
    {
        if (e.ValueKind != kind)
        {
            throw new FormatException($"{path} is not {what}.");
        }
    }

    private static JsonElement Object(JsonElement parent, string path, string name)
    {
        var e = Field(parent, path, name);
        Check(e, Join(path, name), JsonValueKind.Object, "an object");
        return e;
    }

    private static JsonElement.ArrayEnumerator Array(JsonElement parent, string path, string name)
    {
        var e = Field(parent, path, name);
        Check(e, Join(path, name), JsonValueKind.Array, "an array");
        return e.EnumerateArray();
    }

    private static long Long(JsonElement parent, string path, string name) => Long(Field(parent, path, name), Join(path, name));

    /// <summary>A count that results written before it existed leave out: 0 when absent.</summary>
    private static long OptionalLong(JsonElement parent, string path, string name) =>
        parent.TryGetProperty(name, out _) ? Long(parent, path, name) : 0;

    private static long Long(JsonElement e, string path) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var value) && value >= 0 ? value : throw new FormatException($"{path} is not a whole number of zero or more (got {Shown(e)}).");

    private static int Int(JsonElement e, string path) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var value) ? value : throw new FormatException($"{path} is not a whole number of at most 2147483647 (got {Shown(e)}).");

    private static double Double(JsonElement parent, string path, string name) => Double(Field(parent, path, name), Join(path, name));

    private static double Double(JsonElement e, string path) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var value) && double.IsFinite(value) ? value : throw new FormatException($"{path} is not a number (got {Shown(e)}).");

    private static bool Bool(JsonElement parent, string path, string name)
    {
        var e = Field(parent, path, name);
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new FormatException($"{Join(path, name)} is not true or false (got {Shown(e)})."),
        };
    }

    private static string String(JsonElement parent, string path, string name) =>
        OptionalString(Field(parent, path, name), Join(path, name)) ?? throw new FormatException($"{Join(path, name)} is null; a text was expected.");

    private static string? OptionalString(JsonElement e, string path) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Null => null,
        _ => throw new FormatException($"{path} is not a text (got {Shown(e)})."),
    };

    private static double? Nullable(JsonElement parent, string path, string name)
    {
        var e = Field(parent, path, name);
        return e.ValueKind == JsonValueKind.Null ? null : Double(e, Join(path, name));
    }

    private static string[] Strings(JsonElement parent, string path, string name) =>
        [.. Array(parent, path, name).Select((x, i) => OptionalString(x, $"{Join(path, name)}[{i}]") ?? "")];

    private static string Shown(JsonElement e)
    {
        var raw = e.GetRawText();
        return raw.Length <= 40 ? raw : raw[..40] + "...";
    }

    // ---- CSV and HdrHistogram logs.

    /// <summary>
    /// CSV of <paramref name="result"/>: one row per phase (count and percentiles in ms), then one
    /// row per interval. Two tables separated by an empty line, each with its header. An interval's
    /// <c>started</c> counts every start in it, its last column <c>warmup_started</c> the warm-up
    /// starts among them (appended last, so that readers by position keep their columns).
    /// </summary>
    /// <param name="result">The result.</param>
    public static string ToCsv(LoadResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var c = CultureInfo.InvariantCulture;
        var csv = new StringBuilder();
        csv.Append("phase,count,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,mean_ms\n");
        foreach (var phase in Phases(result))
        {
            var h = result.Latency[phase];
            csv.Append(c, $"{phase},{h.TotalCount},{Num(LatencyHistograms.Millis(h, 50))},{Num(LatencyHistograms.Millis(h, 90))},{Num(LatencyHistograms.Millis(h, 99))},{Num(LatencyHistograms.Millis(h, 99.9))},{Num(LatencyHistograms.MaxMillis(h))},{Num(h.TotalCount == 0 ? null : h.GetMean() / 1000.0)}\n");
        }

        csv.Append('\n');
        csv.Append("interval,start_s,seconds,warmup,target,started,finished,cancelled,failed,not_started,behind_schedule,in_flight,batches_sent,rows_sent,bytes_sent,batches_received,rows_received,bytes_received,session_p50_ms,session_p90_ms,session_p99_ms,session_max_ms,cpu_percent,gc_pause_ms,allocated_bytes,thread_pool_queue,warmup_started\n");
        foreach (var i in result.Intervals)
        {
            var t = i.Traffic;
            csv.Append(c, $"{i.Index},{i.StartSeconds},{i.Seconds},{(i.Warmup ? "true" : "false")},{i.Target},{i.Started},{i.Finished},{i.Cancelled},{i.Failed},{i.NotStarted},{i.BehindSchedule},{i.InFlight},{t.BatchesSent},{t.RowsSent},{t.BytesSent},{t.BatchesReceived},{t.RowsReceived},{t.BytesReceived},{Num(i.SessionP50)},{Num(i.SessionP90)},{Num(i.SessionP99)},{Num(i.SessionMax)},{i.CpuPercent},{i.GcPauseMilliseconds},{i.AllocatedBytes},{i.ThreadPoolQueue},{i.WarmupStarted}\n");
        }

        return csv.ToString();

        static string Num(double? value) => value is { } v ? Math.Round(v, 3).ToString(CultureInfo.InvariantCulture) : "";
    }

    /// <summary>
    /// Writes an HdrHistogram interval log in the standard format (HistogramLogWriter: a header,
    /// then one line per histogram with its start, length, max and the compressed histogram),
    /// values in microseconds, each histogram tagged with its phase.
    /// </summary>
    public sealed class HistogramLog : IDisposable
    {
        private readonly HistogramLogWriter _writer;
        private readonly Stream _stream;

        /// <summary>Starts a log on <paramref name="stream"/>, which it owns.</summary>
        /// <param name="stream">Where the log goes.</param>
        /// <param name="startedAt">The run's start, written in the header.</param>
        public HistogramLog(Stream stream, DateTimeOffset startedAt)
        {
            ArgumentNullException.ThrowIfNull(stream);
            _stream = stream;

            // The package's writer writes UTF-16; the standard log format (and every tool that
            // reads it) is ASCII, which is every other byte of that UTF-16.
            _writer = new HistogramLogWriter(new Utf16ToAsciiStream(stream));
            _writer.Write(startedAt.UtcDateTime);
        }

        /// <summary>Appends an interval's histograms that hold values, tagged with their phase.</summary>
        /// <param name="histograms">The histograms by phase.</param>
        public void Append(IReadOnlyDictionary<string, HistogramBase> histograms)
        {
            ArgumentNullException.ThrowIfNull(histograms);
            foreach (var (phase, histogram) in histograms)
            {
                if (histogram.TotalCount == 0)
                {
                    continue;
                }

                // The line HistogramLogWriter writes (seconds with three decimals, the max in
                // seconds for values in microseconds), with the compressed histogram encoded
                // without the package's large per-call buffers.
                var start = histogram.StartTimeStamp / 1000.0;
                var length = (histogram.EndTimeStamp / 1000.0) - start;
                var max = histogram.GetMaxValue() / 1_000_000.0;
                var line = string.Create(CultureInfo.InvariantCulture, $"Tag={phase},{start:F3},{length:F3},{max:F3},{LatencyHistograms.Encode(histogram)}\n");
                _stream.Write(System.Text.Encoding.ASCII.GetBytes(line));
            }

            _stream.Flush();
        }

        /// <inheritdoc/>
        public void Dispose()
        {
            _writer.Dispose();
            _stream.Dispose();
        }
    }

    /// <summary>A write-only stream turning UTF-16LE text (all ASCII) into ASCII bytes, byte-order mark dropped.</summary>
    private sealed class Utf16ToAsciiStream(Stream inner) : Stream
    {
        private long _position;
        private int _pendingLow = -1;
        private bool _sawMark;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            var output = new byte[(buffer.Length / 2) + 1];
            var n = 0;
            foreach (var b in buffer)
            {
                if (_pendingLow < 0)
                {
                    _pendingLow = b;
                    continue;
                }

                var unit = _pendingLow | (b << 8);
                _pendingLow = -1;
                if (!_sawMark && unit == 0xFEFF)
                {
                    _sawMark = true;
                    continue;
                }

                _sawMark = true;
                output[n++] = unit < 0x80 ? (byte)unit : (byte)'?';
            }

            inner.Write(output, 0, n);
            _position += n;
        }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Flush();
            }

            base.Dispose(disposing);
        }
    }
}
