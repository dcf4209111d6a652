using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Reflection;

namespace Engine.Client.Diagnostics;

/// <summary>
/// The one <see cref="Meter"/> and the one <see cref="ActivitySource"/> of the library, both named
/// <c>Engine.Client</c>. Instruments follow OpenTelemetry naming; activities exist only when
/// someone listens.
/// </summary>
internal static class EngineClientTelemetry
{
    public const string Name = "Engine.Client";

    private static readonly string? Version = typeof(EngineClientTelemetry).Assembly
        .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;

    public static readonly ActivitySource ActivitySource = new(Name, Version);

    public static readonly Meter Meter = new(Name, Version);

    public static readonly UpDownCounter<long> ActiveSessions = Meter.CreateUpDownCounter<long>(
        "engine_client.session.active", "{session}", "Sessions that have started Init and not yet ended.");

    public static readonly Counter<long> EndedSessions = Meter.CreateCounter<long>(
        "engine_client.session.ended", "{session}", "Sessions that ended, by outcome.");

    public static readonly Histogram<double> SessionDuration = Meter.CreateHistogram<double>(
        "engine_client.session.duration", "s", "From the start of Init to the settled outcome.");

    public static readonly Histogram<double> InitDuration = Meter.CreateHistogram<double>(
        "engine_client.session.init.duration", "s", "From the start of Init to the InitResponse.");

    public static readonly Counter<long> Batches = Meter.CreateCounter<long>(
        "engine_client.session.batches", "{batch}", "Data messages, by direction (sent, received).");

    public static readonly Counter<long> Bytes = Meter.CreateCounter<long>(
        "engine_client.session.bytes", "By", "Data message bytes without framing, by direction (sent, received).");

    public static readonly Histogram<double> ManageDuration = Meter.CreateHistogram<double>(
        "engine_client.manage.duration", "s", "Manage calls (heartbeat, shutdown), by operation and outcome.");

    public static readonly KeyValuePair<string, object?> Sent = new("direction", "sent");
    public static readonly KeyValuePair<string, object?> Received = new("direction", "received");

    public static string OutcomeTag(SessionOutcomeKind kind) => kind switch
    {
        SessionOutcomeKind.Finished => "finished",
        SessionOutcomeKind.Cancelled => "cancelled",
        SessionOutcomeKind.Failed => "failed",
        SessionOutcomeKind.TransportFailed => "transport_failed",
        _ => "interrupted",
    };
}
