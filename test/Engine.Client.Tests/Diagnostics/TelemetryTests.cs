using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using Engine.Client.Tests.Infrastructure;
using static Engine.Client.Tests.Infrastructure.Inputs;

namespace Engine.Client.Tests.Diagnostics;

/// <summary>The Meter and the ActivitySource named Engine.Client report sessions.</summary>
public sealed class TelemetryTests
{
    [Test]
    public async Task A_session_reports_its_outcome_batches_and_bytes_and_an_activity_when_listened_to()
    {
        var measurements = new List<(string Name, double Value, string? Tag)>();
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
            string? tag = null;
            foreach (var pair in tags)
            {
                tag = $"{pair.Key}={pair.Value}";
            }

            lock (measurements)
            {
                measurements.Add((instrument.Name, value, tag));
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

        await using var host = await ScriptHost.StartAsync(HostKind.InProcess);
        host.Use(Scripts.Echo);
        using var client = host.CreateClient();
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(new SessionInit(Encoding.UTF8.GetBytes("p"), "echo") { Name = "my_udf" }).DefaultTimeout();
        await session.ProcessAsync(Items("ab", "cde")).ToListAsync();
        await session.CloseAsync().DefaultTimeout();
        meters.RecordObservableInstruments();

        lock (measurements)
        {
            Assert.That(measurements, Has.Some.Matches<(string Name, double Value, string? Tag)>(m => m.Name == "engine_client.session.ended" && m.Tag == "outcome=finished"));
            Assert.That(measurements, Has.Some.Matches<(string Name, double Value, string? Tag)>(m => m.Name == "engine_client.session.duration" && m.Tag == "outcome=finished"));
            Assert.That(measurements, Has.Some.Matches<(string Name, double Value, string? Tag)>(m => m.Name == "engine_client.session.init.duration"));
            Assert.That(measurements.Where(m => m.Name == "engine_client.session.batches" && m.Tag == "direction=sent").Sum(m => m.Value), Is.GreaterThanOrEqualTo(2));
            Assert.That(measurements.Where(m => m.Name == "engine_client.session.bytes" && m.Tag == "direction=received").Sum(m => m.Value), Is.GreaterThanOrEqualTo(5));
        }

        lock (activities)
        {
            var activity = activities.Single(a => Equals(a.GetTagItem("engine_client.session.id"), session.Id));
            Assert.That(activity.OperationName, Is.EqualTo("udf.session"));
            Assert.That(activity.GetTagItem("engine_client.session.outcome"), Is.EqualTo("finished"));
            Assert.That(activity.GetTagItem("engine_client.udf.name"), Is.EqualTo("my_udf"));
            Assert.That(activity.GetTagItem("engine_client.session.batches_sent"), Is.EqualTo(2L));
        }
    }

    [Test]
    public async Task A_failed_session_marks_its_activity_as_an_error()
    {
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
        await using var host = await ScriptHost.StartAsync(HostKind.InProcess);
        host.Use(async stream =>
        {
            await Scripts.ReadInitAsync(stream);
            await stream.WriteAsync(Responses.Data("early"));
            await stream.IgnoreEverythingAsync();
        });
        using var client = host.CreateClient();
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());

        Assert.ThrowsAsync<WorkerTransportException>(() => session.InitAsync(new SessionInit(Encoding.UTF8.GetBytes("p"), "f")));
        await session.CloseAsync().DefaultTimeout();

        lock (activities)
        {
            var activity = activities.Single(a => Equals(a.GetTagItem("engine_client.session.id"), session.Id));
            Assert.That(activity.Status, Is.EqualTo(ActivityStatusCode.Error));
            Assert.That(activity.GetTagItem("engine_client.session.outcome"), Is.EqualTo("transport_failed"));
        }
    }
}
