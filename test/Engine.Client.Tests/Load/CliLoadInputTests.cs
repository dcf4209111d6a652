using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Engine.Client.Tests.Cli;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Load;

/// <summary>
/// <c>engine-client load</c> and <c>load merge</c> given values and paths they cannot use, as real
/// processes: each is exit 2 with a plain line naming the option (never exit 70 or .NET's words);
/// an output that names an input file is refused before anything is written; and a file written as
/// the run goes, or a report written at the end, that fails does not take the run, the other
/// reports or the summary down.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.Children)]
public sealed class CliLoadInputTests : ReferenceWorkerFixture
{
    private string _directory = null!;

    [OneTimeSetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("ec-load-input-").FullName;

    [OneTimeTearDown]
    public void RemoveDirectory() => Directory.Delete(_directory, recursive: true);

    private string[] Echo(params string[] more) =>
        ["load", "--worker", Worker.Address, "--format", "echo", "--rows", "100", "--batch-rows", "50", "--no-progress", .. more];

    private static void AssertUsage(CliResult result, params string[] expected)
    {
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.Stderr, Does.Not.Contain("unexpected").And.Not.Contain("Exception"), result.ToString());
            foreach (var text in expected)
            {
                Assert.That(result.Stderr, Does.Contain(text), result.ToString());
            }
        });
    }

    [TestCase(new[] { "--rate", "1e-9", "--sessions", "2" }, "longer than the longest wait a timer allows (4294967.294 s")]
    [TestCase(new[] { "--rate", "1e-9", "--sessions", "2" }, "give a rate of at least 2.328E-07")]
    [TestCase(new[] { "--rate", "1e-6", "--arrivals", "poisson", "--sessions", "2" }, "may draw a gap of up to 3.674E+07 s between starts")]
    [TestCase(new[] { "--max-message-size", "1", "--sessions", "1" }, "--max-message-size 1 is too small; give at least 64KiB.")]
    [TestCase(new[] { "--concurrency", "2", "--max-in-flight", "5", "--sessions", "1" }, "--max-in-flight is for the open model (--rate)")]
    public async Task A_value_the_library_refuses_is_bad_usage_exit_2_with_one_line(string[] arguments, string problem)
    {
        var result = await CliProcess.RunAsync(Echo(arguments));

        AssertUsage(result, problem);
        Assert.That(result.StderrLines, Has.Count.EqualTo(1), result.ToString());
    }

    [TestCase("--report-html")]
    [TestCase("--csv")]
    [TestCase("--hdr-log")]
    [TestCase("--intervals")]
    public async Task A_directory_given_as_a_report_file_is_named_as_a_directory(string option)
    {
        var result = await CliProcess.RunAsync(Echo("--sessions", "1", option, _directory));

        AssertUsage(result, $"{option} '{_directory}': this is a directory; give a file path.");
        Assert.That(result.Stderr, Does.Not.Contain("already exists"));
    }

    /// <summary>
    /// A command refused for anything else (a bad worker specification, a chunk size over the
    /// message limit, options the load test refuses) leaves no empty <c>--output-dir</c> behind.
    /// </summary>
    [TestCase(0)]
    [TestCase(1)]
    [TestCase(2)]
    public async Task A_refused_command_leaves_no_output_directory_behind(int i)
    {
        var badSpec = Path.Combine(_directory, $"refused-bad-{i}.spec.json");
        await File.WriteAllTextAsync(badSpec, "{ not json");
        var cases = new (string[] Arguments, string Problem)[]
        {
            (["load", "--spec", badSpec, "--format", "echo", "--rows", "10", "--no-progress", "--sessions", "1"], $"--spec '{badSpec}'"),
            (Echo("--sessions", "1", "--chunk-size", "10MiB", "--max-message-size", "1MiB"), "--chunk-size"),
            (Echo("--sessions", "1", "--shard", "1/2"), "Shard 1/2"),
        };
        var directory = Path.Combine(_directory, $"refused-dir-{i}");

        var result = await CliProcess.RunAsync([.. cases[i].Arguments, "--output-dir", directory]);

        AssertUsage(result, cases[i].Problem);
        Assert.That(Directory.Exists(directory), Is.False, result.ToString());
    }

    /// <summary>
    /// An output that opening for writing refuses (a symbolic link loop, a socket) is bad usage
    /// before any session, like a directory: it used to pass the check, the whole run happened, and
    /// only its end said the report could not be written.
    /// </summary>
    [Test]
    public async Task An_output_that_cannot_be_opened_for_writing_is_bad_usage_before_any_session()
    {
        var loop = Path.Combine(_directory, "loop-a");
        File.CreateSymbolicLink(loop, Path.Combine(_directory, "loop-b"));
        File.CreateSymbolicLink(Path.Combine(_directory, "loop-b"), loop);
        var socket = Worker.Address.StartsWith("unix://", StringComparison.Ordinal) ? Worker.Address["unix://".Length..] : Worker.Address;
        Assert.That(File.Exists(socket), Is.True, $"the worker's socket file: {socket}");

        foreach (var (path, why) in new[] { (loop, "its symbolic links go round in a loop"), (socket, "it is a socket or a device that takes no writing") })
        {
            var result = await CliProcess.RunAsync(Echo("--sessions", "1", "--json", "--csv", path));

            AssertUsage(result, $"--csv '{path}': the file cannot be written: {why}; give a file path.");
            Assert.That(result.Stdout, Is.Empty, "no run: " + result);
        }
    }

    /// <summary>
    /// A symbolic link whose target does not exist yet is an output like any new file: the report
    /// creates the target (the link stays). When the target's directory does not exist, that is
    /// said, before any session.
    /// </summary>
    [Test]
    public async Task A_link_to_a_file_not_there_yet_is_written_through_and_one_into_a_missing_directory_is_bad_usage()
    {
        var target = Path.Combine(_directory, "through-target.csv");
        var link = Path.Combine(_directory, "through-link.csv");
        File.CreateSymbolicLink(link, target);
        var missing = Path.Combine(_directory, "no-such-directory", "x.csv");
        var nowhere = Path.Combine(_directory, "nowhere-link.csv");
        File.CreateSymbolicLink(nowhere, missing);

        var written = await CliProcess.RunAsync(Echo("--sessions", "1", "--csv", link));
        var refused = await CliProcess.RunAsync(Echo("--sessions", "1", "--csv", nowhere));

        Assert.Multiple(() =>
        {
            Assert.That(written.ExitCode, Is.Zero, written.ToString());
            Assert.That(File.ReadAllText(target), Does.StartWith("phase,count,"));
            Assert.That(new FileInfo(link).LinkTarget, Is.EqualTo(target), "the link stays");
        });
        AssertUsage(refused, $"--csv '{nowhere}' links to '{missing}', which cannot be written: its directory does not exist");
    }

    [TestCase("--report-html")]
    [TestCase("--csv")]
    public async Task A_directory_given_as_a_merge_report_file_is_named_as_a_directory(string option)
    {
        var result = await CliProcess.RunAsync("load", "merge", option, _directory, Path.Combine(_directory, "none.json"));

        AssertUsage(result, $"{option} '{_directory}': this is a directory; give a file path.");
    }

    [Test]
    public async Task A_report_in_a_directory_that_cannot_hold_files_says_so()
    {
        var result = await CliProcess.RunAsync(Echo("--sessions", "1", "--hdr-log", "/proc/ec-load-input"));

        AssertUsage(result, "--hdr-log '/proc/ec-load-input': its directory cannot be written");
        Assert.That(result.Stderr, Does.Not.Contain("Could not find file"));
    }

    [Test]
    public async Task A_report_that_fails_at_the_end_on_a_full_disk_says_it_cannot_be_written_because_the_disk_is_full()
    {
        var result = await CliProcess.RunAsync(Echo("--sessions", "1", "--csv", "/dev/full"));

        AssertUsage(result, "--csv '/dev/full' could not be written: the disk is full");
        Assert.That(result.Stderr, Does.Not.Contain("cannot be read"));
    }

    /// <summary>/dev/null given to two outputs, or to an output and an input, overwrites nothing: not refused.</summary>
    [Test]
    public async Task The_null_device_may_take_several_outputs_and_be_an_input()
    {
        var result = await CliProcess.RunAsync(Echo("--sessions", "1", "--csv", "/dev/null", "--report-html", "/dev/null", "--payload-file", "/dev/null"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
    }

    /// <summary>
    /// A report that <c>--output-dir</c> named (here its report.html, a link to a full disk) is
    /// told as <c>--output-dir</c>'s when it fails: the user gave no <c>--report-html</c>.
    /// </summary>
    [Test]
    public async Task A_failing_report_of_the_output_directory_is_named_by_the_output_directory()
    {
        var directory = Directory.CreateDirectory(Path.Combine(_directory, "named-by-dir")).FullName;
        File.CreateSymbolicLink(Path.Combine(directory, "report.html"), "/dev/full");

        var result = await CliProcess.RunAsync(Echo("--sessions", "2", "--json", "--output-dir", directory));

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.Stderr, Does.Contain($"engine-client load: --output-dir '{Path.Combine(directory, "report.html")}' could not be written: the disk is full"), result.ToString());
            Assert.That(result.Stderr, Does.Not.Contain("--report-html"), result.ToString());
            Assert.That(File.ReadAllText(Path.Combine(directory, "result.csv")), Does.StartWith("phase,count,"), "the other reports are written");
        });
    }

    /// <summary>
    /// A report written at the end that fails (here on a full disk) is named alone, in one line on
    /// stderr; the reports after it (the CSV, the logs of <c>--output-dir</c>) and the JSON summary on
    /// stdout are still written. The exit code is 2, unless the run failed otherwise: a failed
    /// threshold keeps its exit 4, and the line says so.
    /// </summary>
    [TestCase(2, new string[0])]
    [TestCase(4, new[] { "--threshold", "session.max < 1us" })]
    public async Task A_report_that_fails_at_the_end_is_named_alone_and_the_other_reports_and_the_summary_are_still_written(int exit, string[] more)
    {
        var directory = Path.Combine(_directory, $"end-{exit}");

        var result = await CliProcess.RunAsync(Echo(["--sessions", "2", "--json", "--output-dir", directory, "--report-html", "/dev/full", .. more]));

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(exit), result.ToString());
            Assert.That(result.StderrLines.Where(l => l.Contains("/dev/full", StringComparison.Ordinal)).ToList(), Has.Count.EqualTo(1), result.ToString());
            Assert.That(result.Stderr, Does.Contain("engine-client load: --report-html '/dev/full' could not be written: the disk is full"), result.ToString());
            Assert.That(result.Stderr, Does.Contain(exit == 2 ? "(exit 2)" : "(exit 4 says what happened first)"), result.ToString());
            Assert.That(result.Stderr, Does.Not.Contain("unexpected").And.Not.Contain("Exception"), result.ToString());
            if (exit == 4)
            {
                Assert.That(result.Stderr, Does.Contain("engine-client load: threshold failed: session.max < 1us"), result.ToString());
            }

            Assert.That(File.Exists(Path.Combine(directory, "result.json")), Is.True, "the report before it");
            Assert.That(File.Exists(Path.Combine(directory, "result.csv")) ? File.ReadAllText(Path.Combine(directory, "result.csv")) : "", Does.StartWith("phase,count,"), "the report after it");
            Assert.That(File.Exists(Path.Combine(directory, "histograms.hlog")), Is.True);
            Assert.That(File.Exists(Path.Combine(directory, "intervals.jsonl")), Is.True);
            Assert.That(File.Exists(Path.Combine(directory, "report.html")), Is.False, "--report-html given wins over --output-dir");
        });
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("sessions").GetProperty("finished").GetInt64(), Is.EqualTo(2), "the summary is printed");
    }

    /// <summary>
    /// <c>load merge</c> with two reports: the first failing (a full disk) is named alone, the
    /// second and the JSON summary are still written; exit 2, or 4 when a threshold failed.
    /// </summary>
    [TestCase(2, new string[0])]
    [TestCase(4, new[] { "--threshold", "session.max < 1us" })]
    public async Task A_merge_report_that_fails_is_named_alone_and_the_other_report_and_the_summary_are_still_written(int exit, string[] more)
    {
        var (a, b) = await ResultsAsync($"merge-end-{exit}");
        var csv = Path.Combine(_directory, $"merge-end-{exit}.csv");

        var result = await CliProcess.RunAsync(["load", "merge", a, b, "--json", "--report-html", "/dev/full", "--csv", csv, .. more]);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(exit), result.ToString());
            Assert.That(result.StderrLines.Where(l => l.Contains("/dev/full", StringComparison.Ordinal)).ToList(), Has.Count.EqualTo(1), result.ToString());
            Assert.That(result.Stderr, Does.Contain("engine-client load merge: --report-html '/dev/full' could not be written: the disk is full"), result.ToString());
            Assert.That(result.Stderr, Does.Contain(exit == 2 ? "(exit 2)" : "(exit 4 says what happened first)"), result.ToString());
            if (exit == 4)
            {
                Assert.That(result.Stderr, Does.Contain("engine-client load merge: threshold failed: session.max < 1us"), result.ToString());
            }

            Assert.That(File.Exists(csv) ? File.ReadAllText(csv) : "", Does.StartWith("phase,count,"), "the report after it");
        });
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("sessions").GetProperty("finished").GetInt64(), Is.EqualTo(2), "the summary is printed");
    }

    /// <summary>
    /// A merge report whose directory is removed after the paths were checked (the second result is
    /// a named pipe: the merge waits on it while the test removes the directory) is named, with why,
    /// and the other report and the summary are still written: exit 2.
    /// </summary>
    [Test]
    public async Task A_merge_report_whose_directory_vanished_is_named_and_the_other_report_and_the_summary_are_still_written()
    {
        var (a, b) = await ResultsAsync("vanish");
        var gone = Directory.CreateDirectory(Path.Combine(_directory, "vanish-directory")).FullName;
        var html = Path.Combine(gone, "report.html");
        var csv = Path.Combine(_directory, "vanish.csv");
        var pipe = Path.Combine(_directory, "vanish-b.pipe");
        using (var mkfifo = Process.Start(new ProcessStartInfo("mkfifo") { ArgumentList = { pipe } })!)
        {
            await mkfifo.WaitForExitAsync().WaitAsync(TaskTimeouts.Default);
            Assert.That(mkfifo.ExitCode, Is.Zero, "mkfifo failed");
        }

        await using var merge = CliProcess.Start(["load", "merge", a, pipe, "--json", "--report-html", html, "--csv", csv]);

        // Opened once the merge opens it to read: its report paths were checked before.
        await using (var writer = await Task.Run(() => new FileStream(pipe, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)).WaitAsync(TaskTimeouts.Default))
        {
            Directory.Delete(gone);
            await writer.WriteAsync(await File.ReadAllBytesAsync(b)).AsTask().WaitAsync(TaskTimeouts.Default);
        }

        var result = await merge.WaitForExitAsync(CliProcess.RunTimeout);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.StderrLines, Has.Count.EqualTo(1), result.ToString());
            Assert.That(result.Stderr, Does.Contain($"engine-client load merge: --report-html '{html}' could not be written: its directory does not exist").And.Contain("(exit 2)"), result.ToString());
            Assert.That(File.Exists(csv) ? File.ReadAllText(csv) : "", Does.StartWith("phase,count,"), "the other report");
        });
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("sessions").GetProperty("finished").GetInt64(), Is.EqualTo(2), "the summary is printed");
    }

    /// <summary>
    /// Two names of one file by a hard link are one file: two outputs given them, an output and an
    /// input, an output and the file stdout was redirected to are bad usage (exit 2) naming both,
    /// and the file is as it was.
    /// </summary>
    [Test]
    public async Task Hard_links_of_one_file_are_one_file_for_outputs_inputs_and_standard_output()
    {
        var directory = Directory.CreateDirectory(Path.Combine(_directory, "hard-links")).FullName;
        var file = await WriteTextAsync(Path.Combine(directory, "payload.bin"), "payload");
        var link = Path.Combine(directory, "link.bin");
        using (var ln = Process.Start("ln", [file, link]))
        {
            await ln.WaitForExitAsync().WaitAsync(CliProcess.RunTimeout);
        }

        Assert.That(File.Exists(link), Is.True, "ln made the link");

        var outputs = await CliProcess.RunAsync(Echo("--sessions", "1", "--csv", file, "--report-html", link));
        AssertUsage(outputs, $"--report-html and --csv both write '{link}' and '{file}' (one file by two names: hard links)", "would overwrite the other");

        var input = await CliProcess.RunAsync(Echo("--sessions", "1", "--payload-file", file, "--csv", link));
        AssertUsage(input, $"--csv '{link}' is the same file as --payload-file '{file}' (one file by two names: hard links)");

        var info = new ProcessStartInfo("sh")
        {
            ArgumentList = { "-c", "exec \"$0\" load --worker \"$1\" --format echo --sessions 1 --csv \"$2\" >> \"$3\"", CliProcess.ExecutablePath, Worker.Address, link, file },
            RedirectStandardError = true,
        };
        using var redirected = Process.Start(info)!;
        var stderr = await redirected.StandardError.ReadToEndAsync().WaitAsync(CliProcess.RunTimeout);
        await redirected.WaitForExitAsync().WaitAsync(CliProcess.RunTimeout);
        Assert.Multiple(() =>
        {
            Assert.That(redirected.ExitCode, Is.EqualTo(2), stderr);
            Assert.That(stderr, Does.Contain($"--csv '{link}' is this command's standard output"));
            Assert.That(File.ReadAllText(file), Is.EqualTo("payload"), "the file is as it was");
        });
    }

    /// <summary>
    /// An output of <c>load merge</c> that names one of its input results, however spelt (as given,
    /// relative, with <c>.</c> or <c>..</c>, through a symbolic link to the file or to its
    /// directory), is bad usage (exit 2) naming the option and the result, before anything is
    /// written: the results, and the other output, are as they were.
    /// </summary>
    [Test]
    public async Task A_merge_output_that_names_an_input_result_in_any_spelling_is_bad_usage_and_every_file_is_kept()
    {
        var (a, b) = await ResultsAsync("collide");
        var (aText, bText) = (await File.ReadAllTextAsync(a), await File.ReadAllTextAsync(b));
        var links = Directory.CreateDirectory(Path.Combine(_directory, "collide-links")).FullName;
        var fileLink = Path.Combine(links, "a.json");
        File.CreateSymbolicLink(fileLink, a);
        var directoryLink = Path.Combine(links, "directory");
        Directory.CreateSymbolicLink(directoryLink, _directory);
        var other = Path.Combine(_directory, "collide-other.out");

        // "sub/.." where sub links to a directory elsewhere: .NET opens the file beside the link
        // (it takes ".." as text), the system would go to the target's parent.
        var elsewhere = Directory.CreateDirectory(Path.Combine(_directory, "collide-elsewhere", "inner")).FullName;
        var sub = Path.Combine(_directory, "collide-sub");
        Directory.CreateSymbolicLink(sub, elsewhere);

        var cases = new List<(string Option, string Path, string Input)>
        {
            ("--csv", Path.Combine(sub, "..", Path.GetFileName(a)), a),
            ("--report-html", a, a),
            ("--report-html", Path.GetRelativePath(Environment.CurrentDirectory, a), a),
            ("--report-html", Path.Combine(_directory, ".", Path.GetFileName(a)), a),
            ("--report-html", Path.Combine(links, "..", Path.GetFileName(a)), a),
            ("--report-html", fileLink, a),
            ("--csv", Path.Combine(directoryLink, Path.GetFileName(b)), b),
        };
        foreach (var (option, path, input) in cases)
        {
            var otherOption = option == "--csv" ? "--report-html" : "--csv";

            var result = await CliProcess.RunAsync("load", "merge", a, b, "--json", option, path, otherOption, other);

            AssertUsage(result, $"{option} '{path}'", $"result '{input}'", "would overwrite");
            Assert.Multiple(() =>
            {
                Assert.That(result.StderrLines, Has.Count.EqualTo(1), result.ToString());
                Assert.That(result.Stdout, Is.Empty, result.ToString());
                Assert.That(File.ReadAllText(a), Is.EqualTo(aText), path);
                Assert.That(File.ReadAllText(b), Is.EqualTo(bText), path);
                Assert.That(File.Exists(other), Is.False, "nothing is written");
            });
        }
    }

    /// <summary>
    /// An output of <c>load</c> that names one of the run's own input files (<c>--payload-file</c>,
    /// <c>--input</c>, <c>--scenario</c> and a file it names, <c>--stages</c>, <c>--fleet</c>,
    /// <c>--spec</c>), however spelt, <c>--output-dir</c>'s reports included, is bad usage (exit 2)
    /// naming both, before any session: the input is as it was.
    /// </summary>
    [Test]
    public async Task A_run_output_that_names_one_of_its_input_files_is_bad_usage_before_any_session()
    {
        var inputs = Directory.CreateDirectory(Path.Combine(_directory, "run-inputs")).FullName;
        var payload = await WriteTextAsync(Path.Combine(inputs, "payload.bin"), "payload");
        var scenarioPayload = await WriteTextAsync(Path.Combine(inputs, "scenario-payload.bin"), "payload");
        var scenario = await WriteTextAsync(Path.Combine(inputs, "scenario.json"), """{"scenarios": [{"name": "a", "format": "echo", "payloadFile": "scenario-payload.bin"}]}""");
        var stages = await WriteTextAsync(Path.Combine(inputs, "stages.json"), """[{"duration": "1s", "target": 1}]""");
        var fleet = await WriteTextAsync(Path.Combine(inputs, "fleet.txt"), Worker.Address + "\n");
        var spec = await WriteTextAsync(Path.Combine(inputs, "result.json"), CliTestFiles.ReferenceWorkerSpecText);
        var arrow = Path.Combine(inputs, "input.arrow");
        await WriteArrowAsync(arrow);
        var scenarioLink = Path.Combine(_directory, "run-scenario-link.json");
        File.CreateSymbolicLink(scenarioLink, scenario);
        var kept = Directory.GetFiles(inputs).ToDictionary(f => f, File.ReadAllBytes);
        string[] target = ["--worker", Worker.Address];
        string[] generated = ["--rows", "10", "--sessions", "1", "--json", "--no-progress"];

        var cases = new List<(string[] Arguments, string Output, string Input)>
        {
            ([.. target, "--format", "echo", "--payload-file", payload, .. generated, "--csv", payload], $"--csv '{payload}'", $"--payload-file '{payload}'"),
            ([.. target, "--format", "echo", "--input", arrow, "--sessions", "1", "--json", "--hdr-log", Path.Combine(inputs, ".", "input.arrow")], "--hdr-log", $"--input '{arrow}'"),
            ([.. target, "--scenario", scenario, .. generated, "--report-html", scenarioLink], $"--report-html '{scenarioLink}'", $"--scenario '{scenario}'"),
            ([.. target, "--scenario", scenario, .. generated, "--intervals", Path.GetRelativePath(Environment.CurrentDirectory, scenarioPayload)], "--intervals", $"payloadFile '{scenarioPayload}'"),
            ([.. target, "--format", "echo", "--rows", "10", "--concurrency", "1", "--stages", stages, "--json", "--intervals", stages], "--intervals", $"--stages '{stages}'"),
            (["--fleet", fleet, "--format", "echo", .. generated, "--csv", fleet], "--csv", $"--fleet '{fleet}'"),
            (["--spec", spec, "--format", "echo", .. generated, "--output-dir", inputs], "--output-dir", $"--spec '{spec}'"),
        };
        foreach (var (arguments, output, input) in cases)
        {
            var result = await CliProcess.RunAsync(["load", .. arguments]);

            AssertUsage(result, output, input, "would overwrite");
            Assert.Multiple(() =>
            {
                Assert.That(result.StderrLines, Has.Count.EqualTo(1), result.ToString());
                Assert.That(result.Stdout, Is.Empty, "no session ran");
                foreach (var (path, bytes) in kept)
                {
                    Assert.That(File.ReadAllBytes(path), Is.EqualTo(bytes), path);
                }
            });
        }
    }

    [Test]
    public async Task Two_reports_given_one_file_are_bad_usage_before_any_work_naming_both_options()
    {
        var same = Path.Combine(_directory, "same.out");
        await File.WriteAllTextAsync(same, "kept");

        var explicitPaths = await CliProcess.RunAsync(Echo("--sessions", "1", "--csv", same, "--report-html", Path.Combine(_directory, ".", "same.out")));
        var fromDirectory = await CliProcess.RunAsync(Echo("--sessions", "1", "--output-dir", _directory, "--csv", Path.Combine(_directory, "report.html")));
        var merge = await CliProcess.RunAsync("load", "merge", "--csv", same, "--report-html", same, Path.Combine(_directory, "none.json"));
        var link = Path.Combine(_directory, "same-link.out");
        File.CreateSymbolicLink(link, same);
        var linked = await CliProcess.RunAsync(Echo("--sessions", "1", "--json", "--csv", same, "--intervals", link));

        AssertUsage(explicitPaths, "--report-html and --csv both write", "one would overwrite the other");
        AssertUsage(linked, $"--csv and --intervals both write '{same}' and '{link}' (both '{same}')");
        AssertUsage(fromDirectory, "--report-html (from --output-dir) and --csv both write");
        AssertUsage(merge, "--report-html and --csv both write");
        Assert.Multiple(() =>
        {
            Assert.That(explicitPaths.Stdout, Is.Empty, "no run");
            Assert.That(linked.Stdout, Is.Empty, "no run");
            Assert.That(File.ReadAllText(same), Is.EqualTo("kept"));
            Assert.That(File.Exists(Path.Combine(_directory, "result.json")), Is.False, "no run");
        });
    }

    /// <summary>A stage with a field the file format does not have (a misspelt "target", say) is bad usage, named, before any work.</summary>
    [Test]
    public async Task A_stage_with_an_unknown_field_is_bad_usage_naming_it()
    {
        var stages = Path.Combine(_directory, "bogus-stages.json");
        await File.WriteAllTextAsync(stages, """[ { "duration": "1s", "target": 5 }, { "duration": "1s", "traget": 10 } ]""");

        var result = await CliProcess.RunAsync(Echo("--rate", "1", "--stages", stages));

        AssertUsage(result, $"--stages '{stages}', stage 2: unknown field 'traget'");
    }

    /// <summary>An object without a "stages" field (a misspelt "stage", say) is bad usage naming the fields it has.</summary>
    [Test]
    public async Task A_stages_object_without_its_stages_field_is_bad_usage_naming_what_it_has()
    {
        var stages = Path.Combine(_directory, "misspelt-stages.json");
        await File.WriteAllTextAsync(stages, """{ "stage": [ { "duration": "1s", "target": 5 } ] }""");

        var result = await CliProcess.RunAsync(Echo("--rate", "1", "--stages", stages));

        AssertUsage(result, $"--stages '{stages}' is an object without a \"stages\" field (it has \"stage\")");
    }

    /// <summary>
    /// Stages that add up to longer than a timer waits (about 49.7 days) are a valid schedule: the
    /// run goes, here until its session bound, instead of an unexpected error (exit 70) at its start.
    /// </summary>
    [Test]
    public async Task Stages_longer_than_a_timer_waits_run_until_the_session_bound()
    {
        var stages = Path.Combine(_directory, "long-stages.json");
        await File.WriteAllTextAsync(stages, """[ { "duration": "500h", "target": 1 }, { "duration": "500h", "target": 1 }, { "duration": "500h", "target": 1 } ]""");

        var result = await CliProcess.RunAsync(Echo("--concurrency", "1", "--stages", stages, "--sessions", "3", "--json"));

        Assert.That(result.ExitCode, Is.Zero, result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("sessions").GetProperty("finished").GetInt64(), Is.EqualTo(3));
    }

    [Test]
    public async Task A_malformed_result_given_to_merge_names_the_missing_or_malformed_field()
    {
        var run = await CliProcess.RunAsync(Echo("--sessions", "1", "--json"));
        Assert.That(run.ExitCode, Is.Zero, run.ToString());

        var cases = new List<(string Json, string Problem)>
        {
            ("""{"schemaVersion":1,"tool":"engine-client load"}""", "sessions is missing"),
            (Edit(run.Stdout, r => r["sessions"]!.AsObject().Remove("started")), "sessions.started is missing"),
            (Edit(run.Stdout, r => r["intervals"] = null), "intervals is not an array"),
            (Edit(run.Stdout, r => r["sessions"]!["started"] = JsonNode.Parse("1e30")), "sessions.started is not a whole number"),
            (Edit(run.Stdout, r => r["startedAt"] = "yesterday"), "startedAt 'yesterday' is not a date and time"),
            (Edit(run.Stdout, r => r["sessions"]!["started"] = -5), "sessions.started is not a whole number of zero or more (got -5)"),
        };
        for (var i = 0; i < cases.Count; i++)
        {
            var path = Path.Combine(_directory, $"malformed-{i}.json");
            await File.WriteAllTextAsync(path, cases[i].Json);

            var merge = await CliProcess.RunAsync("load", "merge", path);

            AssertUsage(merge, $"result '{path}' is not a load test result", cases[i].Problem);
            Assert.That(merge.Stderr, Does.Not.Contain("given key").And.Not.Contain("JSON value"), merge.ToString());
        }
    }

    [TestCase("--intervals")]
    [TestCase("--hdr-log")]
    [NonParallelizable] // Both cases open /dev/full for the whole run, exclusively (as every log file is).
    public async Task A_progress_file_that_fails_during_the_run_stops_alone_and_the_run_ends_with_every_other_report_and_exit_2(string option)
    {
        var csv = Path.Combine(_directory, $"after-{option.TrimStart('-')}.csv");

        var result = await CliProcess.RunAsync(Echo("--concurrency", "1", "--duration", "1500ms", "--json", "--csv", csv, option, "/dev/full"));

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.StderrLines.Where(l => l.Contains("/dev/full", StringComparison.Ordinal)).ToList(), Has.Count.EqualTo(1), result.ToString());
            Assert.That(result.Stderr, Does.Contain($"engine-client load: {option} '/dev/full' could not be written: the disk is full").And.Contain("(exit 2)"));
            Assert.That(result.Stderr, Does.Not.Contain("unexpected"));
            Assert.That(File.ReadAllText(csv), Does.StartWith("phase,count,"), "the other reports are written");
        });
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("sessions").GetProperty("finished").GetInt64(), Is.GreaterThan(0), "the run went on");
    }

    /// <summary>Two results of real runs (one session each), written as <c>{prefix}-a.json</c> and <c>{prefix}-b.json</c>.</summary>
    private async Task<(string A, string B)> ResultsAsync(string prefix)
    {
        var paths = new List<string>();
        // The two shards of one run, as merge expects.
        foreach (var (name, shard) in new[] { ("a", "0/2"), ("b", "1/2") })
        {
            var run = await CliProcess.RunAsync(Echo("--concurrency", "2", "--sessions", "2", "--shard", shard, "--json"));
            Assert.That(run.ExitCode, Is.Zero, run.ToString());
            paths.Add(await WriteTextAsync(Path.Combine(_directory, $"{prefix}-{name}.json"), run.Stdout));
        }

        return (paths[0], paths[1]);
    }

    private static async Task<string> WriteTextAsync(string path, string text)
    {
        await File.WriteAllTextAsync(path, text);
        return path;
    }

    /// <summary>A small Arrow IPC file: one batch of one int64 column.</summary>
    private static async Task WriteArrowAsync(string path)
    {
        var schema = new Schema.Builder().Field(f => f.Name("x").DataType(Int64Type.Default)).Build();
        using var batch = new RecordBatch(schema, [new Int64Array.Builder().Append(1).Append(2).Build()], 2);
        await using var file = File.Create(path);
        using var writer = new ArrowFileWriter(file, schema);
        await writer.WriteRecordBatchAsync(batch);
        await writer.WriteEndAsync();
    }

    private static string Edit(string json, Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        edit(root);
        return root.ToJsonString();
    }
}
