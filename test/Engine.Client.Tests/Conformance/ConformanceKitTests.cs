using Engine.Client.Conformance;

namespace Engine.Client.Tests.Conformance;

/// <summary>
/// Every check of the kit is able to fail: against a scripted worker that breaks exactly the rule
/// of one check, that check fails, for the right reason, naming its rule, what was sent and what
/// came back, and every other check passes. The same worker without a deviation passes every check.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class ConformanceKitTests
{
    public static IEnumerable<string> AllChecks => WorkerConformance.Checks.Select(c => c.Id);

    [Test]
    public void Every_check_has_a_worker_that_breaks_it()
    {
        Assert.That(DeviantWorker.Deviations.Keys, Is.EquivalentTo(AllChecks));
    }

    [Test]
    public async Task The_scripted_worker_without_a_deviation_passes_every_check()
    {
        var results = await RunAllAsync(breaks: null);

        Assert.That(results.Where(r => r.Status != ConformanceStatus.Passed), Is.Empty);
    }

    [TestCaseSource(nameof(AllChecks))]
    public async Task A_worker_breaking_one_rule_fails_that_check_only_and_says_why(string id)
    {
        var results = await RunAllAsync(breaks: id);

        var notPassed = results.Where(r => r.Status != ConformanceStatus.Passed).ToList();
        Assert.That(notPassed.Select(r => r.Check.Id), Is.EqualTo(new[] { id }), string.Join(Environment.NewLine, notPassed));
        var failed = notPassed[0];
        Assert.Multiple(() =>
        {
            Assert.That(failed.Status, Is.EqualTo(ConformanceStatus.Failed));
            Assert.That(failed.Message, Does.Contain(DeviantWorker.Deviations[id]));
            Assert.That(failed.Check.Rule, Does.StartWith("docs/protocol.md#"));
            Assert.That(failed.Check.Expected, Is.Not.Empty);
            Assert.That(failed.Sent, Is.Not.Empty, "what was sent");
            Assert.That(failed.Received, Is.Not.Empty, "what came back");
        });
    }

    private static async Task<IReadOnlyList<ConformanceResult>> RunAllAsync(string? breaks)
    {
        await using var host = await new DeviantWorker(breaks).StartAsync();
        await using var conformance = WorkerConformance.Create(host.Address, options: WorkerConformanceOptions.ParseProfile(DeviantWorker.Profile));
        return await conformance.RunAsync(AllChecks).WaitAsync(TimeSpan.FromSeconds(120));
    }
}
