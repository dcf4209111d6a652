using Engine.Client;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace OpenTelemetry;

/// <summary>
/// Subscribes OpenTelemetry to Engine.Client: the meter and the activity source named
/// <see cref="EngineClientDiagnostics.MeterName"/> (<c>Engine.Client</c>). docs/telemetry.md lists
/// every instrument, its unit, its tags and its histogram buckets, and every span.
/// </summary>
/// <example>
/// <code>
/// builder.Services.AddOpenTelemetry()
///     .WithMetrics(m =&gt; m.AddEngineClientInstrumentation())
///     .WithTracing(t =&gt; t.AddEngineClientInstrumentation());
/// </code>
/// </example>
public static class EngineClientInstrumentationExtensions
{
    /// <summary>
    /// Adds the library's metrics: sessions (active, ended, duration), Init and Manage durations,
    /// batches and bytes, and pool metrics (workers by state, launches and launch time, losses,
    /// missed heartbeats). Durations are in seconds; each histogram carries bucket advice that fits
    /// its values, which the SDK uses unless a view overrides it.
    /// </summary>
    /// <param name="builder">The meter provider builder.</param>
    /// <returns>The same builder.</returns>
    public static MeterProviderBuilder AddEngineClientInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(EngineClientDiagnostics.MeterName);
    }

    /// <summary>
    /// Adds the library's spans: <c>udf.session</c> (kind client) with its children
    /// <c>udf.worker.launch</c> (when a pool launches a worker for the session),
    /// <c>udf.session.init</c>, and <c>udf.session.finish</c> or <c>udf.session.cancel</c>.
    /// </summary>
    /// <param name="builder">The tracer provider builder.</param>
    /// <returns>The same builder.</returns>
    public static TracerProviderBuilder AddEngineClientInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(EngineClientDiagnostics.ActivitySourceName);
    }
}
