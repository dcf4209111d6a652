namespace Engine.Client.Tests.Infrastructure;

/// <summary>
/// The base of every fixture that runs scripted workers on one <see cref="HostKind"/>: the host
/// starts once per fixture, forgets earlier calls before each test, and gives each test a fresh
/// <see cref="LogCapture"/> that the clients it creates log into. A test fails when the engine
/// logs at Error or Critical level, unless it is marked <see cref="ExpectErrorLogsAttribute"/>.
/// The capture belongs to the fixture instance, so a derived fixture's tests run one at a time.
/// </summary>
public abstract class ScriptedWorkerFixture(HostKind kind)
{
    private LogCapture? _logs;

    /// <summary>Where the scripted worker runs.</summary>
    protected HostKind Kind => kind;

    /// <summary>The scripted worker's host, shared by the fixture's tests.</summary>
    protected ScriptHost Host { get; private set; } = null!;

    /// <summary>What the engine logged during the current test (clients made without a logger factory of their own).</summary>
    internal LogCapture Logs => _logs ?? throw new InvalidOperationException("No test is running.");

    [OneTimeSetUp]
    public async Task StartHost() => Host = await ScriptHost.StartAsync(kind);

    [OneTimeTearDown]
    public async Task StopHost() => await Host.DisposeAsync();

    [SetUp]
    public void ResetHost()
    {
        Host.Registry.Reset();
        _logs = new LogCapture();
        Host.LoggerFactory = _logs.Factory;
    }

    [TearDown]
    public void AssertNoErrorLogs()
    {
        Host.LoggerFactory = null;
        if (_logs is null)
        {
            return;
        }

        try
        {
            ErrorLogs.AssertNoneUnexpected(_logs, this);
        }
        finally
        {
            _logs.Dispose();
            _logs = null;
        }
    }
}
