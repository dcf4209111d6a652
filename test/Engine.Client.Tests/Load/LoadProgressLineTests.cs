extern alias cli;

using Engine.Client.Load;
using HdrHistogram;
using LoadProgress = cli::Engine.Client.Cli.Output.LoadProgress;

namespace Engine.Client.Tests.Load;

/// <summary>
/// <c>load</c>'s plain progress line: every count is the run's total of measured sessions (as the
/// summary's), warm-up starts apart, with the interval's part in parentheses.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class LoadProgressLineTests
{
    [Test]
    public void Each_count_is_the_measured_total_with_the_intervals_part_and_warm_up_starts_apart()
    {
        using var text = new StringWriter();
        using (var progress = new LoadProgress(text, null, null, LoadModelKind.Open))
        {
            var none = new Dictionary<string, HistogramBase>();
            progress.OnInterval(new LoadInterval { Index = 0, Seconds = 1, Warmup = true, Target = 10, Started = 5, WarmupStarted = 5, InFlight = 5 }, none);
            progress.OnInterval(new LoadInterval { Index = 1, StartSeconds = 1, Seconds = 1, Target = 10, Started = 10, WarmupStarted = 1, Finished = 8, Cancelled = 1, Failed = 1, NotStarted = 3, BehindSchedule = 2, InFlight = 4 }, none);

            // The last interval only counts the starts not made at the end.
            progress.OnInterval(new LoadInterval { Index = 2, StartSeconds = 2, Seconds = 0.1, Target = 10, NotStarted = 4 }, none);
        }

        var lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(3));
        Assert.Multiple(() =>
        {
            Assert.That(lines[1], Does.Contain("; started 9 (+9), finished 8 (+8), cancelled 1 (+1), failed 1 (+1), not started 3 (+3), behind schedule 2 (+2), warm-up 6 (+1), in flight 4; this interval: "));
            Assert.That(lines[2], Does.Contain("; started 9 (+0), finished 8 (+0), cancelled 1 (+0), failed 1 (+0), not started 7 (+4), behind schedule 2 (+0), warm-up 6 (+0), in flight 0; "));
        });
    }
}
