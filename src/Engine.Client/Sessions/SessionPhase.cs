namespace Engine.Client;

/// <summary>Where a session stands. Phases only move forward; <see cref="Ended"/> is final.</summary>
public enum SessionPhase
{
    /// <summary>Created; nothing sent.</summary>
    Created,

    /// <summary>Init sent (or being sent); waiting for the InitResponse.</summary>
    Initializing,

    /// <summary>The worker accepted Init; processing may start.</summary>
    Ready,

    /// <summary>Data flows both ways.</summary>
    Processing,

    /// <summary>All input sent and Finish on its way; the worker's remaining output and terminator are awaited.</summary>
    Finishing,

    /// <summary>A Cancel was requested; the terminator is awaited.</summary>
    Cancelling,

    /// <summary>The outcome is settled.</summary>
    Ended,
}
