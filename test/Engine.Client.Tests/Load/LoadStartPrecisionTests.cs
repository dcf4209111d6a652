using System.Diagnostics;
using System.Globalization;
using Engine.Client.Load;

namespace Engine.Client.Tests.Load;

/// <summary>
/// The open model's start times. Every latency counts from a session's intended start, so a start
/// the generator makes late adds that delay, its own, to every latency. A timer alone fires 1 to 3 ms
/// late (a worker that answers in 0.5 ms was reported at 3 ms at its median); the scheduler waits on
/// a timer until the last stretch and spins the rest, so starts are made within microseconds of
/// their time, and never before it.
/// </summary>
[TestFixture]
[NonParallelizable] // a timing property: measured while no other test of this assembly runs
public sealed class LoadStartPrecisionTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Starts_are_never_early_and_at_their_median_well_under_a_millisecond_late()
    {
        var late = new List<double>();
        for (var i = 0; i < 60; i++)
        {
            // 3 to 9 ms ahead, at fractions of a millisecond that a timer's whole milliseconds miss.
            var due = Stopwatch.GetTimestamp() + (long)((3 + (i * 0.1)) * Stopwatch.Frequency / 1000.0);
            var reached = await LoadRun.WaitUntilAsync(due, CancellationToken.None).AsTask().WaitAsync(Bound);
            late.Add((Stopwatch.GetTimestamp() - due) * 1000.0 / Stopwatch.Frequency);
            Assert.That(reached, Is.True);
        }

        late.Sort();
        var all = string.Join(", ", late.Select(ms => ms.ToString("0.###", CultureInfo.InvariantCulture)));
        Assert.Multiple(() =>
        {
            Assert.That(late[0], Is.GreaterThanOrEqualTo(0), $"never before the intended start (ms late: {all})");
            Assert.That(late[late.Count / 2], Is.LessThan(0.5), $"the median, in ms (ms late: {all})");
        });
    }

    [Test]
    public async Task A_stop_ends_a_wait_on_its_timer()
    {
        using var stop = new CancellationTokenSource();
        var waiting = LoadRun.WaitUntilAsync(Stopwatch.GetTimestamp() + (Stopwatch.Frequency * 3600), stop.Token).AsTask();

        await stop.CancelAsync();

        Assert.That(await waiting.WaitAsync(Bound), Is.False);
    }

    [Test]
    public async Task A_stop_ends_a_wait_in_its_last_stretch()
    {
        using var stop = new CancellationTokenSource();
        await stop.CancelAsync();

        // Due within the stretch that is spun, not waited on a timer: the stop is seen there.
        var due = Stopwatch.GetTimestamp() + (long)(LoadRun.SpinBeforeStart.TotalSeconds * Stopwatch.Frequency / 2);

        Assert.That(await LoadRun.WaitUntilAsync(due, stop.Token).AsTask().WaitAsync(Bound), Is.False);
    }

    /// <summary>
    /// The spinning budget: a fifth of the wall time over windows of a second, spread evenly. A
    /// start may spin while the time spun is under a fifth of the window so far (plus one start's
    /// stretch); past it, starts wait on the timer alone until the next window.
    /// </summary>
    [Test]
    public void The_spin_budget_allows_a_fifth_of_the_time_spread_over_each_second()
    {
        var second = Stopwatch.Frequency;
        long start = 1_000 * second;
        var budget = new SpinBudget(start);

        Assert.That(budget.MaySpin(start), Is.True, "the first start of a window");
        budget.Spent(second / 10);
        Assert.That(budget.MaySpin(start + (second / 4)), Is.False, "100 ms spun in the first 250 ms");
        Assert.That(budget.MaySpin(start + (second * 6 / 10)), Is.True, "100 ms spun in 600 ms");
        budget.Spent(second / 10);
        Assert.That(budget.MaySpin(start + (second * 7 / 10)), Is.False, "200 ms spun in 700 ms");
        Assert.That(budget.MaySpin(start + second), Is.True, "a new window");
    }

    /// <summary>Over its budget a wait takes the timer alone, and still never ends before its time.</summary>
    [Test]
    public async Task Over_the_spin_budget_a_start_is_still_never_early()
    {
        var budget = new SpinBudget(Stopwatch.GetTimestamp());
        budget.Spent(Stopwatch.Frequency);
        for (var i = 0; i < 20; i++)
        {
            var due = Stopwatch.GetTimestamp() + (long)((1 + (i * 0.13)) * Stopwatch.Frequency / 1000.0);
            Assert.That(await LoadRun.WaitUntilAsync(due, CancellationToken.None, budget).AsTask().WaitAsync(Bound), Is.True);
            Assert.That(Stopwatch.GetTimestamp(), Is.GreaterThanOrEqualTo(due));
        }
    }
}
