namespace Engine.Client.Sessions;

/// <summary>
/// What a session holds on its worker, for pools: the session calls <see cref="Invalidate"/> when
/// the worker must not be reused, then <see cref="Release"/> exactly once. Failures of either are
/// contained by the session.
/// </summary>
internal interface ISessionLease
{
    /// <summary>The worker must not serve another session (transport failure, unacknowledged cancel).</summary>
    void Invalidate(SessionOutcome outcome);

    /// <summary>The session is done with the worker.</summary>
    void Release(SessionOutcome outcome);
}
