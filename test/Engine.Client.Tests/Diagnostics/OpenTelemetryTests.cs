using System.Diagnostics;
using System.Runtime.Versioning;
using Engine.Client.Diagnostics;
using Engine.Client.Tests.DependencyInjection;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.Workers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Engine.Client.Tests.Diagnostics;

/// <summary>
/// Engine.Client.OpenTelemetry with the OpenTelemetry SDK and its in-memory exporter, in a real host
/// with real reference workers: the exported metrics (tags, histogram buckets holding each value where
/// it belongs, pool metrics, no readiness probe counted as an error) and the session spans.
/// </summary>
[UnsupportedOSPlatform("windows")]
[NonParallelizable]
public sealed class OpenTelemetryTests : TempDirFixture
{
    private (IHost Host, List<MetricSnapshot> Metrics, List<Activity> Spans) StartHost(string specification, Action<Dictionary<string, string?>>? adjust = null)
    {
        var metrics = new List<MetricSnapshot>();
        var spans = new List<Activity>();
        var builder = Host.CreateApplicationBuilder();
        var configuration = HostedWorkers.PoolConfiguration("udf", specification, Dir.Path, startWithHost: false);
        adjust?.Invoke(configuration);
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(configuration);
        builder.Services.AddWorkerPool("udf").BindConfiguration("EngineClient:Pools:udf");
        builder.Services.AddOpenTelemetry()
            .WithMetrics(m => m.AddEngineClientInstrumentation().AddInMemoryExporter(metrics))
            .WithTracing(t => t.AddEngineClientInstrumentation().AddInMemoryExporter(spans));
        return (builder.Build(), metrics, spans);
    }

    /// <summary>The points of the newest export of <paramref name="name"/>.</summary>
    private static IReadOnlyList<MetricPoint> Points(IHost host, List<MetricSnapshot> metrics, string name, bool required = true)
    {
        metrics.Clear();
        Assert.That(host.Services.GetRequiredService<MeterProvider>().ForceFlush(), Is.True);
        var snapshot = metrics.LastOrDefault(m => m.Name == name);
        if (required)
        {
            Assert.That(snapshot, Is.Not.Null, $"{name} was exported");
        }

        return snapshot?.MetricPoints ?? [];
    }

    private static Dictionary<string, object?> Tags(MetricPoint point)
    {
        var tags = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var tag in point.Tags)
        {
            tags[tag.Key] = tag.Value;
        }

        return tags;
    }

    private static (double[] Bounds, long[] Counts) Buckets(MetricPoint point)
    {
        var bounds = new List<double>();
        var counts = new List<long>();
        foreach (var bucket in point.GetHistogramBuckets())
        {
            bounds.Add(bucket.ExplicitBound);
            counts.Add(bucket.BucketCount);
        }

        return ([.. bounds], [.. counts]);
    }

    /// <summary>The index of the bucket (lower, upper] that holds <paramref name="value"/>.</summary>
    private static int BucketOf(double[] bounds, double value) => Array.FindIndex(bounds, b => value <= b);

    [Test]
    public async Task Session_metrics_carry_the_pool_and_outcome_and_their_histograms_hold_each_value_in_its_bucket()
    {
        var (host, metrics, _) = StartHost(HostedWorkers.WriteSpecification(Dir));
        using (host)
        {
            await host.StartAsync().DefaultTimeout();
            var pool = host.Services.GetRequiredKeyedService<WorkerPool>("udf");
            var finished = await HostedWorkers.EchoAsync(pool);
            Assert.That(finished.Kind, Is.EqualTo(SessionOutcomeKind.Finished));

            var duration = Points(host, metrics, "engine_client.session.duration")
                .Single(p => Tags(p).GetValueOrDefault("outcome") as string == "finished");
            Assert.That(Tags(duration)[EngineClientTelemetry.PoolTag], Is.EqualTo("udf"));
            Assert.That(duration.GetHistogramCount(), Is.EqualTo(1));
            var (bounds, counts) = Buckets(duration);
            Assert.That(bounds[..^1], Is.EqualTo(EngineClientTelemetry.SessionBuckets), "the bucket advice in seconds is what the SDK used");
            var expected = BucketOf(bounds, finished.Diagnostics.Elapsed.TotalSeconds);
            Assert.That(counts[expected], Is.EqualTo(1), $"the session's {finished.Diagnostics.Elapsed.TotalSeconds} s is in the bucket up to {bounds[expected]} s");
            Assert.That(counts.Sum(), Is.EqualTo(1));
            Assert.That(expected, Is.LessThan(bounds.Length - 1), "a session of a moment is not in the overflow bucket");

            var init = Points(host, metrics, "engine_client.session.init.duration").Single();
            Assert.That(Tags(init)[EngineClientTelemetry.PoolTag], Is.EqualTo("udf"));
            var (initBounds, initCounts) = Buckets(init);
            Assert.That(initBounds[..^1], Is.EqualTo(EngineClientTelemetry.CallBuckets));
            Assert.That(initCounts[BucketOf(initBounds, init.GetHistogramSum())], Is.EqualTo(1), "the one Init is in the bucket of its value (the sum of one value)");

            var batches = Points(host, metrics, "engine_client.session.batches");
            Assert.That(batches.Select(p => (Tags(p)["direction"], Tags(p)[EngineClientTelemetry.PoolTag], p.GetSumLong())), Is.EquivalentTo(new[] { ((object?)"sent", (object?)"udf", 2L), ("received", "udf", 2L) }));
            await host.StopAsync().DefaultTimeout();
        }
    }

    [Test]
    public async Task A_session_with_an_error_is_counted_with_its_error_type_and_a_finished_one_without()
    {
        var (host, metrics, spans) = StartHost(HostedWorkers.WriteSpecification(Dir));
        using (host)
        {
            await host.StartAsync().DefaultTimeout();
            var pool = host.Services.GetRequiredKeyedService<WorkerPool>("udf");
            Assert.That((await HostedWorkers.EchoAsync(pool)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
            await using (var session = await pool.OpenSessionAsync(TaskTimeouts.HugeTimeouts()).DefaultTimeout())
            {
                // A program that does not parse: Init fails with UserError(SyntaxError), the engine
                // cancels, and the outcome is Cancelled with that error.
                Assert.ThrowsAsync<WorkerExecutionException>(() => session.InitAsync(new SessionInit("add x abc"u8.ToArray(), "builtin")).DefaultTimeout());
                var outcome = await session.CloseAsync().DefaultTimeout();
                Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
                Assert.That(outcome.Error?.Kind, Is.EqualTo(SessionErrorKind.User));
            }

            var ended = Points(host, metrics, "engine_client.session.ended")
                .Select(p => (Tags(p).GetValueOrDefault("outcome"), Tags(p).GetValueOrDefault("error.type"), Tags(p)[EngineClientTelemetry.PoolTag], p.GetSumLong()));
            Assert.That(ended, Is.EquivalentTo(new[] { ((object?)"finished", (object?)null, (object?)"udf", 1L), ("cancelled", "user", "udf", 1L) }));
            await host.StopAsync().DefaultTimeout();
        }

        lock (spans)
        {
            var failed = spans.Single(a => a.OperationName == "udf.session" && a.GetTagItem("engine_client.session.outcome") as string == "cancelled");
            Assert.That(failed.GetTagItem("error.type"), Is.EqualTo("user"));
        }
    }

    [Test]
    public async Task Pool_metrics_count_launches_workers_by_state_missed_heartbeats_and_losses_and_readiness_probes_are_not_errors()
    {
        // The worker starts listening a second after it is spawned: the readiness probes of that
        // second fail, as they do for any worker that takes a moment to start.
        var late = Specs.Direct(["sh", "-c", "sleep 1; exec \"$0\" \"$@\"", HostedWorkers.ReferenceWorker], gracefulTerminationTimeoutMs: 1000);
        var (host, metrics, _) = StartHost(HostedWorkers.WriteSpecification(Dir, late), c =>
        {
            c["EngineClient:Pools:udf:Pool:HeartbeatTimeout"] = "00:00:00.300";
            c["EngineClient:Pools:udf:Pool:MaxMissedHeartbeats"] = "2";
        });
        using (host)
        {
            await host.StartAsync().DefaultTimeout();
            var pool = host.Services.GetRequiredKeyedService<WorkerPool>("udf");
            var worker = (await pool.StartWorkersAsync(1).DefaultTimeout())[0];

            var launches = Points(host, metrics, "engine_client.pool.worker.launches").Single();
            Assert.That(Tags(launches), Is.EquivalentTo(new Dictionary<string, object?> { [EngineClientTelemetry.PoolTag] = "udf", ["outcome"] = "success" }));
            Assert.That(launches.GetSumLong(), Is.EqualTo(1));
            var launchTime = Points(host, metrics, "engine_client.pool.worker.launch.duration").Single();
            var (bounds, counts) = Buckets(launchTime);
            Assert.That(bounds[..^1], Is.EqualTo(EngineClientTelemetry.LaunchBuckets));
            Assert.That(counts[BucketOf(bounds, launchTime.GetHistogramSum())], Is.EqualTo(1));
            Assert.That(launchTime.GetHistogramSum(), Is.GreaterThanOrEqualTo(1.0), "the launch waited for the worker's late start");
            Assert.That(counts.Take(BucketOf(bounds, 1.0) + 1).Sum(), Is.Zero, "no launch of over a second is in a bucket of a second or less");

            var workers = Points(host, metrics, "engine_client.pool.workers")
                .Where(p => Tags(p)[EngineClientTelemetry.PoolTag] as string == "udf")
                .ToDictionary(p => (string)Tags(p)["state"]!, p => p.GetSumLong());
            Assert.That(workers, Is.EquivalentTo(new Dictionary<string, long> { ["idle"] = 1, ["busy"] = 0, ["unhealthy"] = 0, ["stopping"] = 0 }));

            var manage = Points(host, metrics, "engine_client.manage.duration", required: false);
            Assert.That(manage.Select(p => Tags(p)["outcome"]), Has.None.EqualTo("error"), "failed readiness probes of a starting worker are not Manage errors");

            // A frozen worker misses its heartbeats and is lost.
            var lost = new TaskCompletionSource<PooledWorkerInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
            pool.WorkerLost += (_, info) => lost.TrySetResult(info);
            Signal("-STOP", worker.ProcessId);
            try
            {
                await lost.Task.DefaultTimeout();
            }
            finally
            {
                // The pool stops a lost worker: SIGKILL after its graceful second, so on a busy
                // machine the process may be gone before this resumes it.
                Signal("-CONT", worker.ProcessId, mayHaveExited: true);
            }

            var losses = Points(host, metrics, "engine_client.pool.worker.losses").Single();
            Assert.That(Tags(losses)["reason"], Is.EqualTo("heartbeats"));
            Assert.That(losses.GetSumLong(), Is.EqualTo(1));
            var missed = Points(host, metrics, "engine_client.pool.heartbeat.missed").Single();
            Assert.That(Tags(missed)[EngineClientTelemetry.PoolTag], Is.EqualTo("udf"));
            Assert.That(missed.GetSumLong(), Is.GreaterThanOrEqualTo(2));
            await host.StopAsync().DefaultTimeout();
        }
    }

    [Test]
    public async Task A_session_span_has_child_spans_for_the_launch_Init_and_Finish_or_Cancel()
    {
        var (host, _, spans) = StartHost(HostedWorkers.WriteSpecification(Dir));
        using (host)
        {
            await host.StartAsync().DefaultTimeout();
            var pool = host.Services.GetRequiredKeyedService<WorkerPool>("udf");
            Assert.That((await HostedWorkers.EchoAsync(pool)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
            Assert.That((await HostedWorkers.EchoAsync(pool, cancel: true)).Kind, Is.EqualTo(SessionOutcomeKind.Cancelled));
            await host.StopAsync().DefaultTimeout();
        }

        List<Activity> all;
        lock (spans)
        {
            all = [.. spans];
        }

        var sessions = all.Where(a => a.OperationName == "udf.session").ToList();
        Assert.That(sessions, Has.Count.EqualTo(2));
        List<string> Children(Activity parent) =>
            [.. all.Where(a => a.ParentSpanId == parent.SpanId && a.TraceId == parent.TraceId).Select(a => a.OperationName).Order(StringComparer.Ordinal)];

        var first = sessions.Single(s => s.GetTagItem("engine_client.session.outcome") as string == "finished");
        Assert.That(first.Kind, Is.EqualTo(ActivityKind.Client));
        Assert.That(first.GetTagItem(EngineClientTelemetry.PoolTag), Is.EqualTo("udf"));
        Assert.That(Children(first), Is.EqualTo(new[] { "udf.session.finish", "udf.session.init", "udf.worker.launch" }), "the first session launched its worker");

        var second = sessions.Single(s => s.GetTagItem("engine_client.session.outcome") as string == "cancelled");
        Assert.That(Children(second), Is.EqualTo(new[] { "udf.session.cancel", "udf.session.init" }), "the second session reused the worker");
        Assert.That(second.Status, Is.EqualTo(ActivityStatusCode.Error));
        foreach (var child in all.Where(a => a.ParentSpanId == first.SpanId))
        {
            Assert.That(child.StartTimeUtc, Is.GreaterThanOrEqualTo(first.StartTimeUtc));
            Assert.That(child.StartTimeUtc + child.Duration, Is.LessThanOrEqualTo(first.StartTimeUtc + first.Duration));
        }
    }

    [Test]
    public async Task The_heartbeats_of_a_worker_launched_for_a_session_are_not_children_of_that_session()
    {
        // Every HTTP request (a heartbeat is one) makes an activity of System.Net.Http when listened to.
        var requests = new List<(ActivitySpanId Parent, ActivityTraceId Trace, DateTime Start)>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "System.Net.Http",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                lock (requests)
                {
                    requests.Add((activity.ParentSpanId, activity.TraceId, activity.StartTimeUtc));
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        var (host, _, spans) = StartHost(HostedWorkers.WriteSpecification(Dir));
        using (host)
        {
            await host.StartAsync().DefaultTimeout();
            var pool = host.Services.GetRequiredKeyedService<WorkerPool>("udf");
            Assert.That((await HostedWorkers.EchoAsync(pool)).Kind, Is.EqualTo(SessionOutcomeKind.Finished));
            var ended = DateTime.UtcNow;

            // The next answered heartbeat after the session ended (every 200 ms).
            var heartbeat = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            pool.HeartbeatAnswered += _ => heartbeat.TrySetResult();
            await heartbeat.Task.DefaultTimeout();
            var after = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            pool.HeartbeatAnswered += _ => after.TrySetResult();
            await after.Task.DefaultTimeout();

            Activity session;
            lock (spans)
            {
                session = spans.Single(a => a.OperationName == "udf.session");
            }

            lock (requests)
            {
                var later = requests.Where(r => r.Start > ended).ToList();
                Assert.That(later, Is.Not.Empty, "heartbeats were sent after the session");
                Assert.That(later.Select(r => r.Parent), Has.None.EqualTo(session.SpanId), "a heartbeat is no child of the session that launched the worker");
                Assert.That(later.Select(r => r.Trace), Has.None.EqualTo(session.TraceId));
            }

            await host.StopAsync().DefaultTimeout();
        }
    }

    private static void Signal(string signal, int pid, bool mayHaveExited = false)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture) } })!;
        kill.WaitForExit();
        if (mayHaveExited && kill.ExitCode != 0 && !Directory.Exists($"/proc/{pid}"))
        {
            return;
        }

        Assert.That(kill.ExitCode, Is.Zero, $"kill {signal} {pid}");
    }
}
