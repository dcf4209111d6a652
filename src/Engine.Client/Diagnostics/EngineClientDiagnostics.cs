namespace Engine.Client;

/// <summary>
/// The names under which the library reports: listen to them with a <c>MeterListener</c> and an
/// <c>ActivityListener</c>, or with OpenTelemetry (<c>AddMeter</c>, <c>AddSource</c>, or the
/// Engine.Client.OpenTelemetry package's <c>AddEngineClientInstrumentation()</c>). docs/telemetry.md
/// lists every instrument and span.
/// </summary>
public static class EngineClientDiagnostics
{
    /// <summary>The name of the library's <see cref="System.Diagnostics.Metrics.Meter"/>: <c>Engine.Client</c>.</summary>
    public const string MeterName = "Engine.Client";

    /// <summary>The name of the library's <see cref="System.Diagnostics.ActivitySource"/>: <c>Engine.Client</c>.</summary>
    public const string ActivitySourceName = "Engine.Client";
}
