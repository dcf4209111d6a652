using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using static Engine.Client.Tests.Fleets.FleetTestSupport;

namespace Engine.Client.Tests.Fleets;

/// <summary>What a fleet reports: placements, retries, ejections, workers by state, the worker on session measurements, and the session span.</summary>
public sealed class FleetTelemetryTests
{
    [Test]
    public async Task A_retried_session_reports_its_placements_the_retry_its_final_worker_and_its_attempts()
    {
        var name = "fleet-" + Guid.NewGuid().ToString("N")[..8];
        var measurements = new List<(string Name, double Value, Dictionary<string, object?> Tags)>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "Engine.Client")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var all = new Dictionary<string, object?>();
            foreach (var pair in tags)
            {
                all[pair.Key] = pair.Value;
            }

            if (Equals(all.GetValueOrDefault("engine_client.pool.name"), name))
            {
                lock (measurements)
                {
                    measurements.Add((instrument.Name, value, all));
                }
            }
        }

        meters.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        meters.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        meters.Start();
        var activities = new List<Activity>();
        using var tracer = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Engine.Client",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                lock (activities)
                {
                    activities.Add(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(tracer);

        await using var live = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { UseTcp = true });
        var dead = "http://127.0.0.1:" + ReferenceWorkerProcess.FreeTcpPort().ToString(CultureInfo.InvariantCulture);
        await using var fleet = WorkerFleet.Create([dead, live.Address], Options(o =>
        {
            o.Name = name;
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(10);
            o.FailuresToEject = 1;
        }));
        var session = await fleet.OpenSessionAsync(null, KeyFor(fleet, dead)).DefaultTimeout();
        var outcome = await EchoAsync(session);
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished));
        meters.RecordObservableInstruments();

        lock (measurements)
        {
            Assert.That(measurements.Where(m => m.Name == "engine_client.fleet.placements").Select(m => m.Tags["kind"]), Is.EquivalentTo(new[] { "affinity", "retry" }));
            Assert.That(measurements.Where(m => m.Name == "engine_client.fleet.retries").Sum(m => m.Value), Is.EqualTo(1));
            Assert.That(measurements.Where(m => m.Name == "engine_client.fleet.ejections").Sum(m => m.Value), Is.GreaterThanOrEqualTo(1));
            var ended = measurements.Single(m => m.Name == "engine_client.session.ended");
            Assert.That(ended.Tags["engine_client.worker"], Is.EqualTo(live.Address), "the worker the session ran on, not the one it was first placed on");
            Assert.That(measurements.Where(m => m.Name == "engine_client.session.batches").Select(m => m.Tags["engine_client.worker"]), Is.All.EqualTo(live.Address));
            var states = measurements.Where(m => m.Name == "engine_client.fleet.workers").ToDictionary(m => (string)m.Tags["state"]!, m => m.Value);
            Assert.That(states["healthy"] + states["ejected"], Is.EqualTo(2));
            Assert.That(states["draining"], Is.Zero);
        }

        lock (activities)
        {
            var span = activities.Single(a => Equals(a.GetTagItem("engine_client.session.id"), session.Id));
            Assert.That(span.GetTagItem("engine_client.worker"), Is.EqualTo(live.Address));
            Assert.That(span.GetTagItem("engine_client.fleet.attempts"), Is.EqualTo(2));
            Assert.That(span.GetTagItem("engine_client.fleet.placement"), Is.EqualTo("affinity"));
            Assert.That(span.Events.Select(e => e.Name), Does.Contain("engine_client.fleet.retry"));
        }
    }

    [Test]
    public async Task The_worker_tag_on_session_measurements_has_a_bounded_set_of_values()
    {
        // More addresses than the tag keeps: the later ones share "other". Nothing listens on them; no session runs.
        var addresses = Enumerable.Range(0, WorkerFleet.MaxTaggedWorkers + 10).Select(i => $"http://127.0.0.{1 + (i / 200)}:{20000 + i}").ToList();
        await using var fleet = WorkerFleet.Create(addresses, Options(o => o.Name = "bounded"));
        var tags = new HashSet<string>();
        foreach (var address in addresses)
        {
            var session = await fleet.OpenSessionAsync(null, KeyFor(fleet, address)).DefaultTimeout();
            tags.Add(session.Diagnostics.Worker == address ? TagOf(fleet, address) : "unexpected");
            await session.DisposeAsync();
        }

        Assert.That(tags, Does.Not.Contain("unexpected"));
        Assert.That(tags, Has.Count.EqualTo(WorkerFleet.MaxTaggedWorkers + 1));
        Assert.That(tags, Does.Contain("other"));
    }

    private static string TagOf(WorkerFleet fleet, string address) => fleet.MetricTagOf(address);
}
