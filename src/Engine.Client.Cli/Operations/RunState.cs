namespace Engine.Client.Cli.Operations;

/// <summary>Where a run stands, for the progress lines: read from another thread while it runs.</summary>
internal sealed class RunState
{
    private long _rowsSent;
    private long _rowsReceived;
    private long _batchesRead;
    private volatile string _stage = "starting";
    private volatile WorkerSession? _session;

    /// <summary>What the run is doing: <c>starting the worker</c>, <c>waiting for InitResponse</c>, <c>streaming</c>, ...</summary>
    public string Stage
    {
        get => _stage;
        set => _stage = value;
    }

    /// <summary>The session, once opened.</summary>
    public WorkerSession? Session
    {
        get => _session;
        set => _session = value;
    }

    /// <summary>Whether rows are counted (the data is decoded as Arrow).</summary>
    public bool CountsRows { get; set; }

    public long RowsSent => Interlocked.Read(ref _rowsSent);

    /// <summary>Rows of the output batches the tool has read (<see cref="BatchesRead"/> of them).</summary>
    public long RowsReceived => Interlocked.Read(ref _rowsReceived);

    /// <summary>Output batches the tool has read: fewer than the session received when it stopped reading (a closed output pipe) or while batches wait to be read.</summary>
    public long BatchesRead => Interlocked.Read(ref _batchesRead);

    public void AddRowsSent(long rows) => Interlocked.Add(ref _rowsSent, rows);

    /// <summary>One output batch read, of <paramref name="rows"/> rows.</summary>
    public void AddRowsReceived(long rows)
    {
        Interlocked.Add(ref _rowsReceived, rows);
        Interlocked.Increment(ref _batchesRead);
    }
}
