using System.Globalization;
using Engine.Client.Load;
using HdrHistogram;
using Spectre.Console;

namespace Engine.Client.Cli.Output;

/// <summary>
/// <c>load</c>'s live view and interval files: each interval goes to the <c>--intervals</c> file
/// (one JSON object a line), to the <c>--hdr-log</c> (every phase's interval histogram), and to
/// stderr: a live table on a terminal, one plain line otherwise. A file that cannot be written
/// does not take the run down: it is written no more after its first failure, which
/// <see cref="Failures"/> keeps for the end of the run.
/// </summary>
internal sealed class LoadProgress : ILoadObserver, IDisposable
{
    private readonly TextWriter? _plain;
    private readonly LoadProgressFile<StreamWriter>? _intervals;
    private LoadProgressFile<LoadReports.HistogramLog>? _hdrLog;
    // The --hdr-log until its header is written: the header holds the run's start, from which its
    // intervals' times count. It is written with the first interval (or at the end), not as the
    // run starts, so that its writing does not delay the run's first starts.
    private (string Option, string Path, Stream Stream)? _hdrPending;
    private DateTimeOffset? _startedAt;
    private Stream? _hdrStream;
    private readonly string _model;
    private readonly Lock _gate = new();
    private readonly List<(string Option, string Path, Exception Error)> _startFailures = [];
    private Action<Table>? _live;
    // The run's totals so far: measured sessions only, as the summary counts them (warm-up starts apart).
    private long _started;
    private long _warmup;
    private long _finished;
    private long _cancelled;
    private long _failed;
    private long _notStarted;
    private long _behindSchedule;

    /// <param name="plain">Where plain progress lines go; null for none.</param>
    /// <param name="intervals">The <c>--intervals</c> file: the option that named it (<c>--intervals</c> or <c>--output-dir</c>), its path and writer (owned).</param>
    /// <param name="hdrLog">The <c>--hdr-log</c>: the option that named it, its path and its stream (owned), flushed after each interval; its header, with the run's start, is written with the first interval.</param>
    /// <param name="model">The load model, for the target's unit.</param>
    public LoadProgress(TextWriter? plain, (string Option, string Path, StreamWriter Writer)? intervals, (string Option, string Path, Stream Stream)? hdrLog, LoadModelKind model)
    {
        _plain = plain;
        _intervals = intervals is { } i ? new LoadProgressFile<StreamWriter>(i.Option, i.Path, i.Writer) : null;
        _hdrPending = hdrLog;
        _model = model == LoadModelKind.Open ? "sessions/s" : "concurrent";
    }

    /// <summary>Keeps the run's start for the <c>--hdr-log</c>'s header: the log's interval times count from it.</summary>
    public void OnStarted(DateTimeOffset startedAt)
    {
        lock (_gate)
        {
            _startedAt = startedAt;
        }
    }

    /// <summary>Writes the <c>--hdr-log</c>'s header once, with the run's start (now, for a run that never started).</summary>
    private void StartHdrLog()
    {
        if (_hdrPending is not { } pending)
        {
            return;
        }

        _hdrPending = null;
        try
        {
            _hdrLog = new LoadProgressFile<LoadReports.HistogramLog>(pending.Option, pending.Path, new LoadReports.HistogramLog(pending.Stream, _startedAt ?? DateTimeOffset.UtcNow));
            _hdrStream = pending.Stream;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _startFailures.Add((pending.Option, pending.Path, ex));
            try
            {
                pending.Stream.Dispose();
            }
            catch (Exception closing) when (closing is IOException or UnauthorizedAccessException)
            {
                // Its buffered header is lost either way; the first failure is the one told.
            }
        }
    }

    /// <summary>The files that could not be written, each with its first failure; empty when all were.</summary>
    public IReadOnlyList<(string Option, string Path, Exception Error)> Failures
    {
        get
        {
            lock (_gate)
            {
                return [.. _startFailures, .. new[] { _intervals?.Failure(), _hdrLog?.Failure() }.OfType<(string, string, Exception)>()];
            }
        }
    }

    /// <summary>Where the live table goes on a terminal: set while the live display runs.</summary>
    public void AttachLive(Action<Table>? update)
    {
        lock (_gate)
        {
            _live = update;
        }
    }

    public void OnInterval(LoadInterval interval, IReadOnlyDictionary<string, HistogramBase> histograms)
    {
        lock (_gate)
        {
            _started += interval.Started - interval.WarmupStarted;
            _warmup += interval.WarmupStarted;
            _finished += interval.Finished;
            _cancelled += interval.Cancelled;
            _failed += interval.Failed;
            _notStarted += interval.NotStarted;
            _behindSchedule += interval.BehindSchedule;
            StartHdrLog();
            _intervals?.Write(w =>
            {
                w.WriteLine(LoadReports.IntervalJson(interval));
                w.Flush();
            });
            _hdrLog?.Write(log =>
            {
                log.Append(histograms);
                _hdrStream?.Flush();
            });
            if (_live is { } live)
            {
                live(Table(interval));
            }
            else
            {
                _plain?.WriteLine(Line(interval));
            }
        }
    }

    /// <summary>
    /// One plain line: each count is the run's total so far (measured sessions, as in the summary;
    /// warm-up starts apart) with the interval's part in parentheses; in flight is the number at the
    /// interval's end; the latencies, traffic and cpu are the interval's.
    /// </summary>
    private string Line(LoadInterval i)
    {
        var c = CultureInfo.InvariantCulture;
        var end = i.StartSeconds + i.Seconds;
        return string.Create(c,
            $"engine-client load: {end:0.0} s{(i.Warmup ? " (warm-up)" : "")}, target {i.Target:0.##} {_model}; started {_started} (+{i.Started - i.WarmupStarted}), finished {_finished} (+{i.Finished}), cancelled {_cancelled} (+{i.Cancelled}), failed {_failed} (+{i.Failed}), not started {_notStarted} (+{i.NotStarted}), behind schedule {_behindSchedule} (+{i.BehindSchedule}), warm-up {_warmup} (+{i.WarmupStarted}), in flight {i.InFlight}; this interval: session p50 {Ms(i.SessionP50)} p99 {Ms(i.SessionP99)} max {Ms(i.SessionMax)}, sent {Rate(i.Traffic.BytesSent, i.Seconds)}, received {Rate(i.Traffic.BytesReceived, i.Seconds)}, generator cpu {i.CpuPercent:0}%");
    }

    private Table Table(LoadInterval i)
    {
        var table = new Table().Border(TableBorder.Rounded).Title($"engine-client load: {i.StartSeconds + i.Seconds:0.0} s{(i.Warmup ? " (warm-up)" : "")}");
        table.AddColumn("figure");
        table.AddColumn(new TableColumn("this second").RightAligned());
        table.AddColumn(new TableColumn("total").RightAligned());
        var c = CultureInfo.InvariantCulture;
        table.AddRow("target", string.Create(c, $"{i.Target:0.##} {_model}"), "");
        table.AddRow("started", (i.Started - i.WarmupStarted).ToString(c), _started.ToString(c));
        table.AddRow("finished", i.Finished.ToString(c), _finished.ToString(c));
        table.AddRow("cancelled on purpose", i.Cancelled.ToString(c), _cancelled.ToString(c));
        table.AddRow("failed", i.Failed.ToString(c), _failed.ToString(c));
        table.AddRow("not started", i.NotStarted.ToString(c), _notStarted.ToString(c));
        table.AddRow("behind schedule", i.BehindSchedule.ToString(c), _behindSchedule.ToString(c));
        table.AddRow("warm-up started", i.WarmupStarted.ToString(c), _warmup.ToString(c));
        table.AddRow("in flight", i.InFlight.ToString(c), "");
        table.AddRow("session p50 / p99 / max", Markup.Escape($"{Ms(i.SessionP50)} / {Ms(i.SessionP99)} / {Ms(i.SessionMax)}"), "");
        table.AddRow("sent / received", Markup.Escape($"{Rate(i.Traffic.BytesSent, i.Seconds)} / {Rate(i.Traffic.BytesReceived, i.Seconds)}"), "");
        table.AddRow("generator cpu / gc pause / queue", string.Create(c, $"{i.CpuPercent:0}% / {i.GcPauseMilliseconds:0.#} ms / {i.ThreadPoolQueue}"), "");
        return table;
    }

    internal static string Ms(double? value) => value is { } v ? v.ToString(v >= 100 ? "0" : "0.###", CultureInfo.InvariantCulture) + " ms" : "-";

    internal static string Rate(long bytes, double seconds) => seconds > 0 ? Bytes(bytes / seconds) + "/s" : "-";

    internal static string Bytes(double bytes) => bytes switch
    {
        >= 1024 * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024 * 1024 * 1024):0.0} GiB"),
        >= 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024 * 1024):0.0} MiB"),
        >= 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024:0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes:0} B"),
    };

    /// <summary>Closes the files; a failure to write what was left is kept in <see cref="Failures"/>.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            // A run without an interval still leaves a log with its header.
            StartHdrLog();
            _intervals?.Dispose();
            _hdrLog?.Dispose();
        }
    }
}

/// <summary>A file written as the run goes: written no more after its first failure, which it keeps.</summary>
internal sealed class LoadProgressFile<T>(string option, string path, T target)
    where T : IDisposable
{
    private Exception? _failure;
    private bool _disposed;

    public (string Option, string Path, Exception Error)? Failure() => _failure is { } f ? (option, path, f) : null;

    public void Write(Action<T> write)
    {
        if (_failure is not null || _disposed)
        {
            return;
        }

        try
        {
            write(target);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            _failure = ex;
            Close();
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            target.Dispose();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _failure ??= ex;
        }

        _disposed = true;
    }

    private void Close()
    {
        _disposed = true;
        try
        {
            target.Dispose();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // Closing a file that already failed: its buffered rest is lost either way.
        }
    }
}
