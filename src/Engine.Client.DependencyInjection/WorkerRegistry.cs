namespace Engine.Client.DependencyInjection;

/// <summary>The names registered in one container: what the hosted service and health checks look up.</summary>
internal sealed class WorkerRegistry
{
    public HashSet<string> Pools { get; } = new(StringComparer.Ordinal);

    public HashSet<string> Fleets { get; } = new(StringComparer.Ordinal);

    public HashSet<string> Clients { get; } = new(StringComparer.Ordinal);
}
