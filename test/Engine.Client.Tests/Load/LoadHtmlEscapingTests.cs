using Engine.Client.Load;
using HdrHistogram;

namespace Engine.Client.Tests.Load;

/// <summary>
/// Text a worker controls (error messages, its name) reaches the HTML report as text: markup
/// encoded, and control characters, C1 controls and bidirectional overrides written as visible
/// escapes, so that viewing or printing the file plays no terminal escape sequence.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class LoadHtmlEscapingTests
{
    [Test]
    public void Control_characters_and_markup_from_a_worker_are_escaped_and_text_is_kept()
    {
        var session = new LongHistogram(1, 3_600_000_000L, 3);
        session.RecordValue(2_000);
        var result = new LoadResult
        {
            StartedAt = DateTimeOffset.UnixEpoch,
            Seconds = 1,
            Model = LoadModelKind.Closed,
            Target = 1,
            Shards = ["0/1"],
            Hosts = ["host"],
            Sources = ["unix:///w.sock"],
            Sessions = new LoadSessionCounts { Started = 2, Finished = 1, Failed = new Dictionary<string, long> { ["failed"] = 1 } },
            Latency = new Dictionary<string, HistogramBase> { [LoadPhases.Session] = session },
            Workers = [new LoadWorkerFigures { Worker = "unix:///w\u001b[2J.sock", Sessions = 2, Finished = 1, Failed = 1, Session = session }],
            Errors = [new LoadErrorKind { Outcome = "failed", ErrorKind = "user", Count = 1, Messages = ["boom \u001b[31mred\u0007 <b>bold</b> \u202eevil \u0085next 🚀 tab\there"] }],
            Generators = [new LoadGeneratorFigures { Host = "host", Cores = 2 }],
        };

        var html = LoadReports.ToHtml(result);

        Assert.Multiple(() =>
        {
            Assert.That(html.Where(c => c < ' ' && c is not '\n' and not '\r' and not '\t'), Is.Empty, "no raw C0 control character");
            Assert.That(html.Contains('\u202e', StringComparison.Ordinal) || html.Contains('\u0085', StringComparison.Ordinal), Is.False, "no raw bidirectional override or C1 control");
            Assert.That(html, Does.Contain(@"boom \x1b[31mred\x07 &lt;b&gt;bold&lt;/b&gt; \u202eevil \x85next &#128640; tab"));
            Assert.That(html, Does.Contain(@"unix:///w\x1b[2J.sock"));
        });
    }
}
