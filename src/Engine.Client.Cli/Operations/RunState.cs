namespace Engine.Client.Cli.Operations;

/// <summary>Where a run stands, for the progress lines: read from another thread while it runs.</summary>
internal sealed class RunState
{
    private long _rowsSent;
    private long _rowsReceived;
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

    public long RowsReceived => Interlocked.Read(ref _rowsReceived);

    public void AddRowsSent(long rows) => Interlocked.Add(ref _rowsSent, rows);

    public void AddRowsReceived(long rows) => Interlocked.Add(ref _rowsReceived, rows);
}
