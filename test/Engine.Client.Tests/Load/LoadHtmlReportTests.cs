using Engine.Client.Load;
using Engine.Client.Tests.Cli;
using Engine.Client.Tests.ReferenceWorker;
using PuppeteerSharp;

namespace Engine.Client.Tests.Load;

/// <summary>
/// The HTML report of a real run renders in headless Chromium (the system's browser, found on the
/// PATH or at /usr/bin/chromium; nothing is downloaded): no console error, every plot present with
/// its series and every label inside it, and a screenshot kept in the test's output directory.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class LoadHtmlReportTests
{
    private static readonly string[] BrowserPaths = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium"];

    [Test]
    public async Task The_report_renders_in_headless_Chromium_without_console_errors_with_every_plot()
    {
        var directory = Path.Combine(TestContext.CurrentContext.WorkDirectory, "load-report");
        Directory.CreateDirectory(directory);
        var report = Path.Combine(directory, "report.html");
        await using (var worker = await ReferenceWorkerProcess.StartAsync())
        {
            var run = await CliProcess.RunAsync("load", "--worker", worker.Address, "--format", "echo", "--rows", "100", "--rate", "30", "--duration", "3s",
                "--cancel-share", "0.2", "--report-html", report, "--threshold", "session.p99 < 60s");
            Assert.That(run.ExitCode, Is.Zero, run.ToString());
        }

        var browser = BrowserPaths.FirstOrDefault(File.Exists);
        Assert.That(browser, Is.Not.Null, "Chromium is needed (Debian package chromium; .ci/run installs it).");

        await using var chromium = await Puppeteer.LaunchAsync(new LaunchOptions
        {
            Headless = true,
            ExecutablePath = browser,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            Timeout = 60_000,
        });
        await using var page = await chromium.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, e) =>
        {
            if (e.Message.Type == ConsoleType.Error)
            {
                errors.Add(e.Message.Text);
            }
        };
        page.PageError += (_, e) => errors.Add(e.Message);
        var requests = new List<string>();
        page.Request += (_, e) => requests.Add(e.Request.Url);

        await page.SetViewportAsync(new ViewPortOptions { Width = 1300, Height = 900 });
        var response = await page.GoToAsync(new Uri(report).AbsoluteUri, new NavigationOptions { Timeout = 60_000, WaitUntil = [WaitUntilNavigation.Load] });
        Assert.That(response.Ok, Is.True);

        var plots = await page.EvaluateExpressionAsync<string[]>("Array.from(document.querySelectorAll('svg.plot')).map(s => s.id)");
        var series = new Dictionary<string, int>();
        foreach (var id in LoadReports.HtmlPlots)
        {
            series[id] = await page.EvaluateExpressionAsync<int>($"document.querySelectorAll('#{id} path.series').length");
        }

        // Layout, as drawn: every text of a plot inside its plot (no legend cut off), no two x tick
        // labels of a plot overlapping, and a plot's y tick labels all different (not 0, 0, 0, 0, 0
        // when every value is 0).
        var outside = await page.EvaluateExpressionAsync<string[]>("""
            Array.from(document.querySelectorAll('svg.plot')).flatMap(svg => {
              const box = svg.getBoundingClientRect();
              return Array.from(svg.querySelectorAll('text')).filter(t => {
                const r = t.getBoundingClientRect();
                return r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5;
              }).map(t => svg.id + ': ' + t.textContent);
            })
            """);
        var overlapping = await page.EvaluateExpressionAsync<string[]>("""
            Array.from(document.querySelectorAll('svg.plot')).flatMap(svg => {
              const ticks = Array.from(svg.querySelectorAll('text.xtick')).map(t => ({ text: t.textContent, r: t.getBoundingClientRect() }));
              const found = [];
              for (let i = 1; i < ticks.length; i++) {
                if (ticks[i].r.left < ticks[i - 1].r.right) found.push(svg.id + ': ' + ticks[i - 1].text + ' / ' + ticks[i].text);
              }
              return found;
            })
            """);
        var repeatedYTicks = await page.EvaluateExpressionAsync<string[]>("""
            Array.from(document.querySelectorAll('svg.plot')).filter(svg => {
              const labels = Array.from(svg.querySelectorAll('text.ytick')).map(t => t.textContent);
              return labels.length < 2 || new Set(labels).size !== labels.length;
            }).map(svg => svg.id + ': ' + Array.from(svg.querySelectorAll('text.ytick')).map(t => t.textContent).join(','))
            """);
        var tables = await page.EvaluateExpressionAsync<string[]>("Array.from(document.querySelectorAll('table')).map(t => t.id)");
        var workerRows = await page.EvaluateExpressionAsync<int>("document.querySelectorAll('#workers tr').length");
        var screenshot = Path.Combine(directory, "report.png");
        await page.ScreenshotAsync(screenshot, new ScreenshotOptions { FullPage = true });
        TestContext.AddTestAttachment(screenshot, "the load test report in headless Chromium");

        Assert.Multiple(() =>
        {
            Assert.That(errors, Is.Empty, "console errors");
            Assert.That(requests.Where(u => !u.StartsWith("file:", StringComparison.Ordinal)), Is.Empty, "the report needs no network");
            Assert.That(plots, Is.EquivalentTo(LoadReports.HtmlPlots));
            Assert.That(outside, Is.Empty, "texts drawn outside their plot");
            Assert.That(overlapping, Is.Empty, "x tick labels that overlap");
            Assert.That(repeatedYTicks, Is.Empty, "plots whose y tick labels repeat");
            foreach (var (id, count) in series)
            {
                Assert.That(count, Is.GreaterThan(0), $"{id} draws its series");
            }

            Assert.That(tables, Is.SupersetOf(new[] { "sessions", "thresholds", "latency", "throughput", "workers", "errors", "generator", "configuration" }));
            Assert.That(workerRows, Is.EqualTo(2), "a header and one worker");
            Assert.That(new FileInfo(screenshot).Length, Is.GreaterThan(10_000));
        });
    }
}
