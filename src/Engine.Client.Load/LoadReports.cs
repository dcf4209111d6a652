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

        if (version.GetInt32() != LoadResult.CurrentSchemaVersion)
        {
            throw new FormatException($"schemaVersion {version.GetInt32()} is not supported; this version reads {LoadResult.CurrentSchemaVersion}.");
        }

        var sessions = root.GetProperty("sessions");
        var failed = sessions.GetProperty("failed").EnumerateObject().Where(p => p.Name != "total")
            .ToDictionary(p => p.Name, p => p.Value.GetInt64(), StringComparer.Ordinal);
        var latency = root.GetProperty("latency").EnumerateObject()
            .ToDictionary(p => p.Name, p => (HistogramBase)ReadHistogram(p.Value), StringComparer.Ordinal);
        return new LoadResult
        {
            SchemaVersion = version.GetInt32(),
            StartedAt = DateTimeOffset.Parse(root.GetProperty("startedAt").GetString()!, CultureInfo.InvariantCulture),
            Seconds = root.GetProperty("seconds").GetDouble(),
            Interrupted = root.GetProperty("interrupted").GetBoolean(),
            Model = root.GetProperty("model").GetString() == "open" ? LoadModelKind.Open : LoadModelKind.Closed,
            Target = root.GetProperty("target").GetDouble(),
            Shards = Strings(root.GetProperty("shards")),
            Runs = root.TryGetProperty("runs", out var runs) ? Strings(runs) : [],
            Hosts = Strings(root.GetProperty("hosts")),
            Sources = Strings(root.GetProperty("sources")),
            Configuration = root.GetProperty("configuration").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "", StringComparer.Ordinal),
            Sessions = new LoadSessionCounts
            {
                Started = sessions.GetProperty("started").GetInt64(),
                Finished = sessions.GetProperty("finished").GetInt64(),
                Cancelled = sessions.GetProperty("cancelled").GetInt64(),
                Failed = failed,
                BehindSchedule = sessions.GetProperty("behindSchedule").GetInt64(),
                NotStarted = sessions.GetProperty("notStarted").GetInt64(),
                Warmup = sessions.GetProperty("warmup").GetInt64(),
                Abandoned = sessions.GetProperty("abandoned").GetInt64(),
            },
            Latency = latency,
            InitChunks = root.GetProperty("initChunks").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32(), StringComparer.Ordinal),
            Traffic = ReadTraffic(root.GetProperty("throughput")),
            Workers = [.. root.GetProperty("workers").EnumerateArray().Select(e => new LoadWorkerFigures
            {
                Worker = e.GetProperty("worker").GetString()!,
                Sessions = e.GetProperty("sessions").GetInt64(),
                Finished = e.GetProperty("finished").GetInt64(),
                Cancelled = e.GetProperty("cancelled").GetInt64(),
                Failed = e.GetProperty("failed").GetInt64(),
                Abandoned = e.TryGetProperty("abandoned", out var abandoned) ? abandoned.GetInt64() : 0,
                Heartbeats = e.TryGetProperty("heartbeats", out var heartbeats) ? heartbeats.GetInt64() : 0,
                HeartbeatsFailed = e.TryGetProperty("heartbeatsFailed", out var heartbeatsFailed) ? heartbeatsFailed.GetInt64() : 0,
                Traffic = ReadTraffic(e.GetProperty("throughput")),
                Session = ReadHistogram(e.GetProperty("session")),
            })],
            Errors = [.. root.GetProperty("errors").EnumerateArray().Select(e => new LoadErrorKind
            {
                Outcome = e.GetProperty("outcome").GetString()!,
                ErrorKind = e.GetProperty("errorKind").GetString(),
                Status = e.GetProperty("status").GetString(),
                Count = e.GetProperty("count").GetInt64(),
                Messages = Strings(e.GetProperty("messages")),
            })],
            Generators = [.. root.GetProperty("generator").EnumerateArray().Select(e => new LoadGeneratorFigures
            {
                Host = e.GetProperty("host").GetString() ?? "",
                Cores = e.GetProperty("cores").GetInt32(),
                CpuPercentMean = e.GetProperty("cpuPercentMean").GetDouble(),
                CpuPercentMax = e.GetProperty("cpuPercentMax").GetDouble(),
                GcPauseMilliseconds = e.GetProperty("gcPauseMs").GetDouble(),
                GcPausePercent = e.GetProperty("gcPausePercent").GetDouble(),
                AllocatedBytesPerSecond = e.GetProperty("allocatedBytesPerSecond").GetDouble(),
                ThreadPoolQueueMax = e.GetProperty("threadPoolQueueMax").GetInt64(),
                ThreadPoolQueueMean = e.GetProperty("threadPoolQueueMean").GetDouble(),
                Warnings = Strings(e.GetProperty("warnings")),
            })],
            Intervals = [.. root.GetProperty("intervals").EnumerateArray().Select(ReadInterval)],
            Thresholds = [.. root.GetProperty("thresholds").EnumerateArray().Select(e => new LoadThresholdResult(
                e.GetProperty("expression").GetString()!,
                e.GetProperty("passed").GetBoolean(),
                e.GetProperty("actual").ValueKind == JsonValueKind.Number ? e.GetProperty("actual").GetDouble() : null,
                e.GetProperty("actualText").GetString() ?? ""))],
        };
    }

    private static LongHistogram ReadHistogram(JsonElement e) =>
        e.GetProperty("histogram").GetString() is { } encoded ? LatencyHistograms.Decode(encoded) : LatencyHistograms.Create();

    private static LoadTraffic ReadTraffic(JsonElement e) => new()
    {
        BatchesSent = e.GetProperty("batchesSent").GetInt64(),
        RowsSent = e.GetProperty("rowsSent").GetInt64(),
        BytesSent = e.GetProperty("bytesSent").GetInt64(),
        BatchesReceived = e.GetProperty("batchesReceived").GetInt64(),
        RowsReceived = e.GetProperty("rowsReceived").GetInt64(),
        BytesReceived = e.GetProperty("bytesReceived").GetInt64(),
    };

    private static LoadInterval ReadInterval(JsonElement e) => new()
    {
        Index = e.GetProperty("index").GetInt32(),
        StartSeconds = e.GetProperty("start").GetDouble(),
        Seconds = e.GetProperty("seconds").GetDouble(),
        Warmup = e.GetProperty("warmup").GetBoolean(),
        Target = e.GetProperty("target").GetDouble(),
        Started = e.GetProperty("started").GetInt64(),
        Finished = e.GetProperty("finished").GetInt64(),
        Cancelled = e.GetProperty("cancelled").GetInt64(),
        Failed = e.GetProperty("failed").GetInt64(),
        NotStarted = e.GetProperty("notStarted").GetInt64(),
        BehindSchedule = e.GetProperty("behindSchedule").GetInt64(),
        InFlight = e.GetProperty("inFlight").GetInt64(),
        Traffic = ReadTraffic(e),
        SessionP50 = Nullable(e, "sessionP50"),
        SessionP90 = Nullable(e, "sessionP90"),
        SessionP99 = Nullable(e, "sessionP99"),
        SessionMax = Nullable(e, "sessionMax"),
        CpuPercent = e.GetProperty("cpuPercent").GetDouble(),
        GcPauseMilliseconds = e.GetProperty("gcPauseMs").GetDouble(),
        AllocatedBytes = e.GetProperty("allocatedBytes").GetInt64(),
        ThreadPoolQueue = e.GetProperty("threadPoolQueue").GetInt64(),
        SessionHistogram = e.TryGetProperty("sessionHistogram", out var h) ? h.GetString() : null,
    };

    private static double? Nullable(JsonElement e, string name) =>
        e.GetProperty(name).ValueKind == JsonValueKind.Number ? e.GetProperty(name).GetDouble() : null;

    private static string[] Strings(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetString() ?? "")];

    // ---- CSV and HdrHistogram logs.

    /// <summary>
    /// CSV of <paramref name="result"/>: one row per phase (count and percentiles in ms), then one
    /// row per interval. Two tables separated by an empty line, each with its header.
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
        csv.Append("interval,start_s,seconds,warmup,target,started,finished,cancelled,failed,not_started,behind_schedule,in_flight,batches_sent,rows_sent,bytes_sent,batches_received,rows_received,bytes_received,session_p50_ms,session_p90_ms,session_p99_ms,session_max_ms,cpu_percent,gc_pause_ms,allocated_bytes,thread_pool_queue\n");
        foreach (var i in result.Intervals)
        {
            var t = i.Traffic;
            csv.Append(c, $"{i.Index},{i.StartSeconds},{i.Seconds},{(i.Warmup ? "true" : "false")},{i.Target},{i.Started},{i.Finished},{i.Cancelled},{i.Failed},{i.NotStarted},{i.BehindSchedule},{i.InFlight},{t.BatchesSent},{t.RowsSent},{t.BytesSent},{t.BatchesReceived},{t.RowsReceived},{t.BytesReceived},{Num(i.SessionP50)},{Num(i.SessionP90)},{Num(i.SessionP99)},{Num(i.SessionMax)},{i.CpuPercent},{i.GcPauseMilliseconds},{i.AllocatedBytes},{i.ThreadPoolQueue}\n");
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
