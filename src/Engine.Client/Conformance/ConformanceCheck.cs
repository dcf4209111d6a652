namespace Engine.Client.Conformance;

/// <summary>One check of the worker contract (docs/conformance.md section C, plus named extras).</summary>
public sealed class ConformanceCheck
{
    internal ConformanceCheck(string id, string description, bool stopsWorker)
    {
        Id = id;
        Description = description;
        StopsWorker = stopsWorker;
    }

    /// <summary>The stable id: <c>C1</c> to <c>C18</c>, or a name such as <c>payload-crc-mismatch</c>.</summary>
    public string Id { get; }

    /// <summary>What is sent and what must come back.</summary>
    public string Description { get; }

    /// <summary>
    /// True when the check asks the worker to shut down, after which it may exit. Such checks are
    /// opt-in: <see cref="WorkerConformance.RunAsync(CancellationToken)"/> leaves them out; run
    /// them by id, last, one per worker.
    /// </summary>
    public bool StopsWorker { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Id}: {Description}";
}

/// <summary>How a check ended.</summary>
public enum ConformanceStatus
{
    /// <summary>The worker behaved as the protocol requires.</summary>
    Passed,

    /// <summary>The worker did something else; <see cref="ConformanceResult.Message"/> says what was expected and what arrived.</summary>
    Failed,

    /// <summary>The check could not run with the given options (for example no UDF that raises a user error was configured).</summary>
    Skipped,
}

/// <summary>The result of one check.</summary>
public sealed class ConformanceResult
{
    internal ConformanceResult(ConformanceCheck check, ConformanceStatus status, string? message, TimeSpan duration)
    {
        Check = check;
        Status = status;
        Message = message;
        Duration = duration;
    }

    /// <summary>The check that ran.</summary>
    public ConformanceCheck Check { get; }

    /// <summary>Passed, failed or skipped.</summary>
    public ConformanceStatus Status { get; }

    /// <summary><see langword="true"/> when <see cref="Status"/> is <see cref="ConformanceStatus.Passed"/>.</summary>
    public bool Passed => Status == ConformanceStatus.Passed;

    /// <summary>
    /// For a failure: what was expected, what arrived instead, and the responses received so far.
    /// For a skip: why. <see langword="null"/> when passed.
    /// </summary>
    public string? Message { get; }

    /// <summary>How long the check took.</summary>
    public TimeSpan Duration { get; }

    /// <inheritdoc/>
    public override string ToString() => Message is null ? $"{Check.Id} {Status}" : $"{Check.Id} {Status}: {Message}";
}
