namespace Engine.Client.Conformance;

/// <summary>One check of the worker contract (docs/conformance.md section C, plus named extras).</summary>
public sealed class ConformanceCheck
{
    internal ConformanceCheck(string id, string description, bool stopsWorker, string rule, string expected, bool advisory = false)
    {
        Id = id;
        Description = description;
        StopsWorker = stopsWorker;
        Rule = rule;
        Expected = expected;
        Advisory = advisory;
    }

    /// <summary>The stable id: <c>C1</c> to <c>C18</c>, or a name such as <c>payload-crc-mismatch</c>.</summary>
    public string Id { get; }

    /// <summary>What is sent and what must come back.</summary>
    public string Description { get; }

    /// <summary>
    /// The rule the check tests, as a path and anchor in this repository's documentation, for
    /// example <c>docs/protocol.md#rule-6-termination</c>.
    /// </summary>
    public string Rule { get; }

    /// <summary>What a correct worker sends in this check, in wire terms.</summary>
    public string Expected { get; }

    /// <summary>
    /// True when the check asks the worker to shut down, after which it may exit. Such checks are
    /// opt-in: <see cref="WorkerConformance.RunAsync(CancellationToken)"/> leaves them out; run
    /// them by id, last, one per worker.
    /// </summary>
    public bool StopsWorker { get; }

    /// <summary>
    /// True when the check tests a recommendation (a SHOULD of docs/protocol.md, such as
    /// <c>process-unknown-flags</c> and <c>process-parent-death</c>) rather than a requirement: a
    /// worker that does not follow it ends as <see cref="ConformanceStatus.Warning"/>, which fails
    /// no run, unless <see cref="WorkerConformanceOptions.Strict"/> is set (then it ends as
    /// <see cref="ConformanceStatus.Failed"/>).
    /// </summary>
    public bool Advisory { get; }

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

    /// <summary>
    /// The profile does not say how to make this worker show the behaviour the check needs (for
    /// example no UDF that raises a user error); <see cref="ConformanceResult.ProfileKey"/> names the
    /// profile key that would enable it. Never a failure.
    /// </summary>
    NotApplicable,

    /// <summary>
    /// An advisory check (<see cref="ConformanceCheck.Advisory"/>): the worker does not follow a
    /// recommendation of the protocol. <see cref="ConformanceResult.Message"/>,
    /// <see cref="ConformanceResult.Sent"/> and <see cref="ConformanceResult.Received"/> say what
    /// happened, as for a failure, but a warning never fails a run; with
    /// <see cref="WorkerConformanceOptions.Strict"/> the check ends as <see cref="Failed"/> instead.
    /// </summary>
    Warning,
}

/// <summary>The result of one check.</summary>
public sealed class ConformanceResult
{
    internal ConformanceResult(
        ConformanceCheck check,
        ConformanceStatus status,
        string? message,
        TimeSpan duration,
        IReadOnlyList<string>? sent = null,
        IReadOnlyList<string>? received = null,
        string? profileKey = null)
    {
        Check = check;
        Status = status;
        Message = message;
        Duration = duration;
        Sent = sent ?? [];
        Received = received ?? [];
        ProfileKey = profileKey;
    }

    /// <summary>The check that ran.</summary>
    public ConformanceCheck Check { get; }

    /// <summary>Passed, failed, not applicable, or (an advisory check) a warning.</summary>
    public ConformanceStatus Status { get; }

    /// <summary><see langword="true"/> when <see cref="Status"/> is <see cref="ConformanceStatus.Passed"/>.</summary>
    public bool Passed => Status == ConformanceStatus.Passed;

    /// <summary>
    /// For a failure or a warning: what was expected and what arrived instead. For a check that is
    /// not applicable: why. <see langword="null"/> when passed.
    /// </summary>
    public string? Message { get; }

    /// <summary>
    /// For a failure or a warning, the messages the kit sent on the failing call, in order, described by kind and
    /// size (never payload bytes), for example <c>Init(format 'echo', 30-byte payload)</c>; empty
    /// otherwise.
    /// </summary>
    public IReadOnlyList<string> Sent { get; }

    /// <summary>For a failure or a warning, the messages the worker sent back on the failing call, in order; empty otherwise.</summary>
    public IReadOnlyList<string> Received { get; }

    /// <summary>
    /// For <see cref="ConformanceStatus.NotApplicable"/>: the profile key that would enable the
    /// check (<c>echo</c>, <c>initFailure</c>, <c>userError</c>, <c>largeOutput</c>, <c>keepalive</c> or
    /// <c>arrowOutput</c>; <see langword="null"/> for a process check that does not apply to the
    /// specification's transport, or <c>keepalive-pings</c> run without the worker's address);
    /// otherwise <see langword="null"/>.
    /// </summary>
    public string? ProfileKey { get; }

    /// <summary>How long the check took.</summary>
    public TimeSpan Duration { get; }

    /// <inheritdoc/>
    public override string ToString() => Message is null ? $"{Check.Id} {Status}" : $"{Check.Id} {Status}: {Message}";
}
