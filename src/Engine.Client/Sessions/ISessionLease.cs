namespace Engine.Client.Sessions;

/// <summary>
/// What a session holds on its worker, for pools: the session calls <see cref="Invalidate"/> when
/// the worker must not be reused, then <see cref="ReleaseAsync"/> exactly once. Failures of either
/// are contained by the session.
/// </summary>
internal interface ISessionLease
{
    /// <summary>The worker must not serve another session (transport failure, unacknowledged cancel).</summary>
    void Invalidate(SessionOutcome outcome);

    /// <summary>The session is done with the worker; completes once the pool has acted on it (for example stopped the worker).</summary>
    ValueTask ReleaseAsync(SessionOutcome outcome);

    /// <summary>
    /// The stream broke: says what happened to the worker (for example that its process exited with
    /// a signal), or <see langword="null"/> when nothing is known. Completes within a short bound.
    /// </summary>
    ValueTask<string?> ExplainStreamFailureAsync();

    /// <summary>The worker the session is on now, when the lease may move it (a fleet); <see langword="null"/> keeps the session's own.</summary>
    string? CurrentWorker => null;

    /// <summary>The placement attempts so far (a fleet), or <see langword="null"/>.</summary>
    IReadOnlyList<SessionAttempt>? Attempts => null;
}
