namespace Engine.Client;

/// <summary>The state of a worker in a <see cref="WorkerFleet"/>.</summary>
public enum FleetWorkerState
{
    /// <summary>Takes new sessions.</summary>
    Healthy,

    /// <summary>
    /// Taken out after consecutive failures (transport failures, missed heartbeats) for an ejection
    /// time that grows with each ejection; probed with heartbeats and readmitted when one answers
    /// after that time. Takes new sessions only when every worker of the fleet is ejected.
    /// </summary>
    Ejected,

    /// <summary>
    /// Its address left the fleet's discovery: no new sessions; running sessions finish, then its
    /// channel closes and it leaves the fleet.
    /// </summary>
    Draining,
}
