using System.Collections.Concurrent;
using System.Text;
using Engine.Client.Load;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using HdrHistogram;

namespace Engine.Client.Tests.Load;

/// <summary>
/// What counts as a late start, and what the warnings blame for it: a start that waited in the
/// generator's own queue is late by that wait; a start never made did not wait for the cap and
/// then run.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class LoadStartAccountingTests
{
    private static readonly TimeSpan RunBound = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Four starts at 20 a second; the first three wait in the launcher (as starts queued behind
    /// a busy generator's thread pool do) until the fourth is launched, 150 ms after the first was
    /// due. They run 150, 100 and 50 ms late: behind schedule. The lateness used to be taken as
    /// the scheduler queued them, on time, and none counted.
    /// </summary>
    [Test]
    public async Task Starts_that_wait_in_the_generators_queue_are_behind_schedule()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Open,
            Target = 20,
            Duration = TimeSpan.FromSeconds(10),
            Sessions = 4,
            Warmup = TimeSpan.Zero,
            SessionOptions = TaskTimeouts.HugeTimeouts(),
            Seed = 1,
        };
        options.Scenarios.Add(LoadTestScenarios.SmallEcho());
        var held = new ConcurrentQueue<Func<Task>>();
        options.SessionLauncher = session =>
        {
            if (held.Count < 3)
            {
                held.Enqueue(session);
                return Task.CompletedTask;
            }

            while (held.TryDequeue(out var waiting))
            {
                _ = Task.Run(waiting);
            }

            return Task.Run(session);
        };

        var result = await LoadTest.RunAsync(client, options).WaitAsync(RunBound);

        Assert.Multiple(() =>
        {
            Assert.That(result.Sessions.Finished, Is.EqualTo(4));
            Assert.That(result.Sessions.BehindSchedule, Is.GreaterThanOrEqualTo(3), "the three held starts ran at least 50 ms late");
            Assert.That(result.Latency[LoadPhases.SessionFromActualStart].GetMaxValue(), Is.LessThan(result.Latency[LoadPhases.Session].GetMaxValue()), "the actual start is when a session began to run");
        });
    }

    /// <summary>
    /// A cap of 1 and sessions of 300 ms at 20 starts a second for 1 s: each start after the first
    /// waits for the slot; those that got it count as having waited for the cap, and the one still
    /// waiting at the end is not started, not one that waited and ran. The warning names as many as
    /// started after a wait (the started less the first), where it used to count one more.
    /// </summary>
    [Test]
    public async Task The_cap_warning_counts_the_starts_that_waited_for_a_slot_and_ran()
    {
        await using var worker = await ReferenceWorkerProcess.StartAsync();
        using var client = worker.CreateClient();
        var options = new LoadTestOptions
        {
            Model = LoadModelKind.Open,
            Target = 20,
            Duration = TimeSpan.FromSeconds(1),
            Warmup = TimeSpan.Zero,
            MaxInFlight = 1,
            SessionOptions = TaskTimeouts.HugeTimeouts(),
            Seed = 1,
        };
        options.Scenarios.Add(new LoadScenario("builtin", "builtin", Encoding.UTF8.GetBytes("delay 300ms; select x"))
        {
            Input = LoadInput.Generate(LoadInput.ParseColumns("x:int64"), rows: 10, batchRows: null, batches: 1),
        });

        var result = await LoadTest.RunAsync(client, options).WaitAsync(RunBound);

        var s = result.Sessions;
        var warnings = result.Generators.Single().Warnings;
        var behind = warnings.SingleOrDefault(w => w.Contains("behind schedule", StringComparison.Ordinal)) ?? string.Join(" | ", warnings);
        var waited = s.Started - 1;
        Assert.Multiple(() =>
        {
            Assert.That(s.NotStarted, Is.GreaterThan(0), "starts still waiting when the schedule ended");
            Assert.That(waited, Is.GreaterThan(0));
            Assert.That(behind, Does.Contain($": {waited} {(waited == 1 ? "start" : "starts")} found the cap on sessions in flight reached (--max-in-flight 1)"));
        });
    }
}
