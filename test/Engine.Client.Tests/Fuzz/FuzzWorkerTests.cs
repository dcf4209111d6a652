using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Engine.Client.Fuzzing;
using Engine.Client.Tests.ReferenceWorker;
using Engine.ReferenceWorker.Udfs.Faults;

namespace Engine.Client.Tests.Fuzz;

/// <summary>
/// A few hundred seeded sessions (seven per misbehaviour) against one real reference worker
/// process (its <c>fuzz</c> format) over a Unix domain socket, several at a time on one
/// <see cref="WorkerClient"/>. Every seed must end with the documented outcome of its misbehaviour
/// (<see cref="FuzzExpectation.Table"/>) within its bound, throw only documented exception types,
/// and leave the connection able to serve a normal session; no task exception may go unobserved.
/// </summary>
/// <remarks>
/// To run chosen seeds only:
/// <c>ENGINE_CLIENT_FUZZ_SEEDS=17,40-45 dotnet test ... --filter FullyQualifiedName~FuzzWorkerTests</c>.
/// A failure lists every failing seed with its misbehaviour, the expectation and what happened.
/// </remarks>
[TestFixture]
public sealed class FuzzWorkerTests
{
    /// <summary>Seeds 0 .. Seeds-1: each misbehaviour seven times, with different parameters.</summary>
    private static readonly int Seeds = 7 * FuzzPlan.All.Length;

    /// <summary>Sessions at a time: silent seeds wait for their timeouts side by side.</summary>
    private const int Parallelism = 8;

    private const string SeedsVariable = "ENGINE_CLIENT_FUZZ_SEEDS";

    private static readonly TimeSpan FixtureBound = TimeSpan.FromMinutes(3);

    private readonly ConcurrentQueue<Exception> _unobserved = new();
    private ReferenceWorkerProcess _worker = null!;
    private WorkerClient _client = null!;

    [OneTimeSetUp]
    public async Task Start()
    {
        // Earlier fixtures' garbage must not be blamed on these sessions.
        CollectGarbage();
        TaskScheduler.UnobservedTaskException += OnUnobserved;
        _worker = await ReferenceWorkerProcess.StartAsync();
        _client = WorkerClient.Create(_worker.Address, FuzzRunner.ClientOptions());
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        TaskScheduler.UnobservedTaskException -= OnUnobserved;
        _client.Dispose();
        await _worker.DisposeAsync();
    }

    [Test]
    public async Task Every_seed_ends_with_its_documented_outcome_in_time_and_leaves_the_connection_serving()
    {
        var seeds = SeedsToRun();
        var started = Stopwatch.GetTimestamp();
        var results = await FuzzRunner.RunAsync(_client, seeds, Parallelism).WaitAsync(FixtureBound);
        var elapsed = Stopwatch.GetElapsedTime(started);

        // Every session is settled and dropped: a faulted task nobody awaited shows up now.
        CollectGarbage();

        var failed = results.Where(r => !r.Passed).ToList();
        TestContext.Out.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{results.Count} seeds in {elapsed.TotalSeconds:0.0} s, {failed.Count} failed, {_unobserved.Count} unobserved task exceptions; slowest seed {results.Max(r => r.Elapsed).TotalSeconds:0.0} s"));
        foreach (var group in results.GroupBy(r => r.Plan.Misbehaviour).OrderBy(g => g.Key))
        {
            TestContext.Out.WriteLine($"  {group.Key}: {string.Join(", ", group.GroupBy(r => r.OutcomeKey).Select(g => $"{g.Count()} {g.Key}"))}");
        }

        Assert.Multiple(() =>
        {
            Assert.That(failed.Count, Is.Zero, () =>
                $"{failed.Count} of {results.Count} seeds did not end as documented (rerun some with {SeedsVariable}={string.Join(",", failed.Take(20).Select(f => f.Plan.Seed))}):{Environment.NewLine}"
                + string.Join(Environment.NewLine, failed.Select(f => f.Describe())));
            Assert.That(_unobserved.Count, Is.Zero, () =>
                $"{_unobserved.Count} unobserved task exceptions:{Environment.NewLine}"
                + string.Join(Environment.NewLine, _unobserved.Select(e => e.ToString())));
        });
    }

    [Test]
    public void Every_misbehaviour_has_a_documented_outcome_and_seeds_expand_deterministically()
    {
        Assert.Multiple(() =>
        {
            foreach (var misbehaviour in FuzzPlan.All)
            {
                Assert.That(FuzzExpectation.Table.ContainsKey(misbehaviour), Is.True, $"{misbehaviour} has no row in the expectation table");
                Assert.That(FuzzPlan.FromSeed((int)misbehaviour).Misbehaviour, Is.EqualTo(misbehaviour));
            }

            for (var seed = 0; seed < Seeds; seed++)
            {
                var plan = FuzzPlan.FromSeed(seed);
                Assert.That(FuzzPlan.FromSeed(seed), Is.EqualTo(plan));
                Assert.That(plan.At, Is.InRange(0, plan.InputBatches - 1));
                Assert.That(FuzzPlan.TryParse(seed.ToString(CultureInfo.InvariantCulture), out var parsed, out _) && parsed == plan, Is.True);
            }

            // Pinned: a seed names the same misbehaviour and parameters on every machine and runtime.
            Assert.That(FuzzPlan.FromSeed(0).ToString(), Is.EqualTo("seed 0: Echo (batches 4, at 0, status DeadlineExceeded, delay 5 ms, noise 1b39896a51a8749b)"));
            Assert.That(FuzzPlan.FromSeed(1234).ToString(), Is.EqualTo("seed 1234: UserError (batches 4, at 0, status PermissionDenied, delay 10 ms, noise b912e3ff44b145a5)"));
        });
    }

    private static int[] SeedsToRun()
    {
        var chosen = Environment.GetEnvironmentVariable(SeedsVariable);
        if (string.IsNullOrWhiteSpace(chosen))
        {
            return [.. Enumerable.Range(0, Seeds)];
        }

        return [.. chosen.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).SelectMany(Range)];

        static IEnumerable<int> Range(string part)
        {
            var dash = part.IndexOf('-', StringComparison.Ordinal);
            if (dash < 0)
            {
                return [int.Parse(part, CultureInfo.InvariantCulture)];
            }

            var from = int.Parse(part[..dash], CultureInfo.InvariantCulture);
            var to = int.Parse(part[(dash + 1)..], CultureInfo.InvariantCulture);
            return Enumerable.Range(from, to - from + 1);
        }
    }

    private static void CollectGarbage()
    {
        for (var i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    private void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e) => _unobserved.Enqueue(e.Exception);
}
