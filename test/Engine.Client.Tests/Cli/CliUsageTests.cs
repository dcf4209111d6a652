namespace Engine.Client.Tests.Cli;

/// <summary>
/// Bad usage and unreadable files: exit 2, nothing on stdout, and exactly one line on stderr that
/// names what was wrong and points to --help. Also: --help works on every command.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class CliUsageTests
{
    private const string Worker = "unix:///tmp/engine-client-usage-test.sock";

    public static IEnumerable<TestCaseData> BadUsage()
    {
        static TestCaseData Case(string name, string fragment, params string[] args) =>
            new TestCaseData(args, fragment).SetName("Exit_2: " + name);

        yield return Case("no command", "Required command", []);
        yield return Case("unknown command", "unknown command or argument 'launch'", "launch");
        yield return Case("unknown option", "unknown option '--colour'", "run", "--worker", Worker, "--format", "echo", "--colour");
        yield return Case("missing --format", "'--format' is required", "run", "--worker", Worker);
        yield return Case("empty --format", "--format is empty", "run", "--worker", Worker, "--format", "");
        yield return Case("no worker", "give exactly one of --worker", "run", "--format", "echo");
        yield return Case("both --worker and --spec", "--worker and --spec are both given", "run", "--worker", Worker, "--spec", "x.json", "--format", "echo");
        yield return Case("malformed --worker", "unknown scheme", "run", "--worker", "tcp://localhost:1", "--format", "echo");
        yield return Case("--timeout without a unit", "has no unit", "run", "--worker", Worker, "--format", "echo", "--timeout", "30");
        yield return Case("--timeout with an unknown unit", "unknown unit 'd'", "run", "--worker", Worker, "--format", "echo", "--timeout", "2d");
        yield return Case("zero --timeout", "shorter than 1 ms", "run", "--worker", Worker, "--format", "echo", "--timeout", "0s");
        yield return Case("--session-conf without =", "--session-conf 'timezone' has no '='", "run", "--worker", Worker, "--format", "echo", "--session-conf", "timezone");
        yield return Case("--task-context with an empty key", "--task-context '=3' has an empty key", "run", "--worker", Worker, "--format", "echo", "--task-context", "=3");
        yield return Case("--chunk-size not a size", "--chunk-size 'big' is not a byte size", "run", "--worker", Worker, "--format", "echo", "--chunk-size", "big");
        yield return Case("--chunk-size over the message limit", "does not fit the worker's message limit", "run", "--worker", Worker, "--format", "echo", "--chunk-size", "4MiB");
        yield return Case("--max-message-size too small", "--max-message-size 1024 is too small", "run", "--worker", Worker, "--format", "echo", "--max-message-size", "1KiB");
        yield return Case("--payload and --payload-file", "--payload and --payload-file are both given", "run", "--worker", Worker, "--format", "echo", "--payload", "x", "--payload-file", "y");
        yield return Case("missing --payload-file", "does not exist", "run", "--worker", Worker, "--format", "echo", "--payload-file", "/tmp/engine-client-no-such-payload");
        yield return Case("--payload-file is a directory", "this is a directory", "run", "--worker", Worker, "--format", "echo", "--payload-file", "/tmp");
        yield return Case("missing --spec file", "the file does not exist", "run", "--spec", "/tmp/engine-client-no-such-spec.json", "--format", "echo");
        yield return Case("invalid --spec", "has 3 problems", "run", "--spec", "<invalid-spec>", "--format", "echo");
        yield return Case("missing --input file", "--input '/tmp/engine-client-no-such.arrow': the file does not exist", "run", "--worker", Worker, "--format", "echo", "--input", "/tmp/engine-client-no-such.arrow");
        yield return Case("--input not Arrow", "is not an Arrow IPC stream", "run", "--worker", Worker, "--format", "echo", "--input", "<not-arrow>");
        yield return Case("--output in a missing directory", "its directory does not exist", "run", "--worker", Worker, "--format", "echo", "--output", "/tmp/engine-client-no-such-dir/out.arrow");
        yield return Case("--output - with --json", "--output - writes the Arrow output to stdout", "run", "--worker", Worker, "--format", "echo", "--output", "-", "--json");
        yield return Case("heartbeat without --worker", "no worker given; give --worker <address> (repeatable) or --fleet", "heartbeat");
        yield return Case("heartbeat with a relative socket", "does not name an absolute socket path", "heartbeat", "--worker", "unix:relative.sock");
        yield return Case("shutdown with a bad --timeout", "--timeout 'soon'", "shutdown", "--worker", Worker, "--timeout", "soon");
        yield return Case("spec validate without a file", "Required argument 'file' missing", "spec", "validate");
        yield return Case("spec validate on a missing file", "the file does not exist", "spec", "validate", "/tmp/engine-client-no-such-spec.json");
        yield return Case("spec validate on a directory", "the path is a directory", "spec", "validate", "/tmp");
        yield return Case("workers start without --spec", "'--spec' is required", "workers", "start");
        yield return Case("workers start --count 0", "--count 0 is out of range; give 1 to 1024", "workers", "start", "--spec", "x.json", "--count", "0");
        yield return Case("workers start --count above the limit", "--count 99999 is out of range; give 1 to 1024", "workers", "start", "--spec", "<valid-spec>", "--count", "99999");
        yield return Case("workers start --count not a number", "--count: 'abc' is not a whole number", "workers", "start", "--spec", "<valid-spec>", "--count", "abc");
        yield return Case("load --workers above the limit", "--workers 1025 is out of range; give 1 to 1024", "load", "--spec", "<valid-spec>", "--workers", "1025", "--format", "echo", "--duration", "1s");
        yield return Case("load --rate 0 without stages", "--rate 0 starts no session", "load", "--worker", Worker, "--format", "echo", "--rate", "0", "--duration", "1s");
        yield return Case("load --concurrency 0 without stages", "--concurrency 0 runs no session", "load", "--worker", Worker, "--format", "echo", "--concurrency", "0", "--duration", "2s");
        yield return Case("load merge with an unknown option", "unknown option '--bogus'", "load", "merge", "--bogus", "<not-json>");
        yield return Case("spec validate with an unknown option", "unknown option '--strict'", "spec", "validate", "--strict", "<valid-spec>");
        yield return Case("load --scenario not JSON", "--scenario '<not-json>' is not valid JSON at line 1, position 3", "load", "--worker", Worker, "--format", "echo", "--duration", "1s", "--scenario", "<not-json>");
        yield return Case("load --stages not JSON", "--stages '<not-json>' is not valid JSON at line 1, position 3", "load", "--worker", Worker, "--format", "echo", "--rate", "5", "--stages", "<not-json>");
        yield return Case("load merge of a file that is not JSON", "result '<not-json>' is not valid JSON at line 1, position 3", "load", "merge", "<not-json>");
        yield return Case("load merge of JSON that is not a result", "result '<valid-spec>' is not a load test result", "load", "merge", "<valid-spec>");
        yield return Case("load --output-dir under a file", "--output-dir '<not-json>/out' cannot be created: its parent is a file", "load", "--worker", Worker, "--format", "echo", "--duration", "1s", "--output-dir", "<not-json>/out");
        yield return Case("load merge --csv in a missing directory, before any result is read", "--csv '/tmp/engine-client-no-such-dir/m.csv': its directory does not exist", "load", "merge", "--csv", "/tmp/engine-client-no-such-dir/m.csv", "/tmp/engine-client-no-such-result.json");
        yield return Case("load merge --report-html in a missing directory", "--report-html '/tmp/engine-client-no-such-dir/m.html': its directory does not exist", "load", "merge", "--report-html", "/tmp/engine-client-no-such-dir/m.html", "/tmp/engine-client-no-such-result.json");
        yield return Case("conformance --junit in a missing directory, before any check", "--junit '/tmp/engine-client-no-such-dir/x.xml': its directory does not exist", "conformance", "--worker", Worker, "--check", "C1", "--junit", "/tmp/engine-client-no-such-dir/x.xml");
        yield return Case("conformance --profile missing", "--profile '/tmp/engine-client-no-such-profile.json': the file does not exist", "conformance", "--worker", Worker, "--profile", "/tmp/engine-client-no-such-profile.json");
        yield return Case("conformance --profile not JSON", "--profile '<not-json>' is not valid JSON at line 1, position 3", "conformance", "--worker", Worker, "--profile", "<not-json>");
        yield return Case("workers start with an invalid spec", "has 3 problems", "workers", "start", "--spec", "<invalid-spec>");
        yield return Case("--keepalive below 1 s", "--keepalive '500ms' is shorter than 1 s", "run", "--worker", Worker, "--format", "echo", "--keepalive", "500ms");
        yield return Case("--keepalive neither a duration nor off", "--keepalive 'never' is not a duration", "heartbeat", "--worker", Worker, "--keepalive", "never");
        yield return Case("conformance with an unknown check", "--check 'C99' names no check; known: C1", "conformance", "--worker", Worker, "--check", "C99");

        // An output file that is the command's standard output would be mixed with its summary.
        yield return Case("run --output /dev/stdout", "--output '/dev/stdout' is this command's standard output, where its summary goes", "run", "--worker", Worker, "--format", "echo", "--output", "/dev/stdout");
        yield return Case("run --output /dev/stdout with --json", "--output '/dev/stdout' is this command's standard output, where --json writes its object", "run", "--worker", Worker, "--format", "echo", "--output", "/dev/stdout", "--json");
        yield return Case("load --csv /dev/stdout", "--csv '/dev/stdout' is this command's standard output", "load", "--worker", Worker, "--format", "echo", "--duration", "1s", "--csv", "/dev/stdout");
        yield return Case("load --csv /dev/stdout with --json", "--csv '/dev/stdout' is this command's standard output, where its JSON object goes", "load", "--worker", Worker, "--format", "echo", "--duration", "1s", "--json", "--csv", "/dev/stdout");
        yield return Case("load --report-html /proc/self/fd/1", "--report-html '/proc/self/fd/1' is this command's standard output", "load", "--worker", Worker, "--format", "echo", "--duration", "1s", "--report-html", "/proc/self/fd/1");
        yield return Case("load --hdr-log /dev/stdout", "--hdr-log '/dev/stdout' is this command's standard output", "load", "--worker", Worker, "--format", "echo", "--duration", "1s", "--hdr-log", "/dev/stdout");
        yield return Case("load merge --csv /dev/stdout", "--csv '/dev/stdout' is this command's standard output", "load", "merge", "--csv", "/dev/stdout", "/tmp/engine-client-no-such-result.json");
        yield return Case("conformance --junit /dev/stdout", "--junit '/dev/stdout' is this command's standard output", "conformance", "--worker", Worker, "--check", "C1", "--junit", "/dev/stdout");
    }

    public static IEnumerable<TestCaseData> HelpOfEveryCommand()
    {
        string[][] commands = [[], ["run"], ["heartbeat"], ["shutdown"], ["spec"], ["spec", "validate"], ["workers"], ["workers", "start"], ["conformance"], ["demo"]];
        foreach (var command in commands)
        {
            yield return new TestCaseData((object)command).SetName("Help: engine-client " + string.Join(' ', command));
        }
    }

    [TestCaseSource(nameof(BadUsage))]
    public async Task Bad_usage_exits_2_with_one_line_on_stderr(string[] args, string fragment)
    {
        fragment = fragment
            .Replace("<not-json>", CliTestFiles.NotJson, StringComparison.Ordinal)
            .Replace("<valid-spec>", CliTestFiles.ValidSpec, StringComparison.Ordinal);
        var resolved = args.Select(a => a switch
        {
            "<invalid-spec>" => CliTestFiles.InvalidSpec,
            "<not-arrow>" => CliTestFiles.NotArrow,
            "<not-json>/out" => CliTestFiles.NotJson + "/out",
            "<not-json>" => CliTestFiles.NotJson,
            "<valid-spec>" => CliTestFiles.ValidSpec,
            _ => a,
        }).ToArray();

        var result = await CliProcess.RunAsync(resolved);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.Stdout, Is.Empty, result.ToString());
            Assert.That(result.StderrLines, Has.Count.EqualTo(1), result.ToString());
            Assert.That(result.Stderr, Does.StartWith("engine-client"));
            Assert.That(result.Stderr, Does.Contain(fragment));
            Assert.That(result.Stderr, Does.Contain("--help"));

            // The user's terms: no .NET type, exception or reader wording.
            Assert.That(result.Stderr, Does.Not.Contain("System.").And.Not.Contain("LineNumber").And.Not.Contain("Could not").And.Not.Contain("Exception"));
        });
    }

    /// <summary>
    /// Standard output redirected to a file: an output given that same file by its own name would
    /// be mixed with the summary too. Found by what the names resolve to, not by their spelling.
    /// </summary>
    [TestCase("--csv", "out.csv", "give --csv a file of its own")]
    [TestCase("--output-dir", "result.json", "write the reports to another directory, or stdout elsewhere")]
    public async Task An_output_given_the_file_stdout_was_redirected_to_exits_2(string option, string redirectedTo, string advice)
    {
        var directory = Directory.CreateTempSubdirectory("ec-stdout-").FullName;
        try
        {
            var file = Path.Combine(directory, redirectedTo);
            var value = option == "--output-dir" ? directory : file;
            var info = new System.Diagnostics.ProcessStartInfo("sh")
            {
                ArgumentList = { "-c", "exec \"$0\" load --worker \"$1\" --format echo --duration 1s \"$2\" \"$3\" > \"$4\"", CliProcess.ExecutablePath, Worker, option, value, file },
                RedirectStandardError = true,
            };
            using var process = System.Diagnostics.Process.Start(info)!;
            var stderr = await process.StandardError.ReadToEndAsync().WaitAsync(CliProcess.RunTimeout);
            await process.WaitForExitAsync().WaitAsync(CliProcess.RunTimeout);

            Assert.Multiple(() =>
            {
                Assert.That(process.ExitCode, Is.EqualTo(2), stderr);
                Assert.That(stderr, Does.Contain($"'{file}' is this command's standard output, where its summary goes: the two would be mixed; {advice}."));
                Assert.That(File.ReadAllText(file), Is.Empty, "nothing was written to it");
            });
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestCaseSource(nameof(HelpOfEveryCommand))]
    public async Task Help_works_on_every_command(string[] command)
    {
        var result = await CliProcess.RunAsync([.. command, "--help"]);

        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
            Assert.That(result.Stdout, Does.Contain("Usage:"));
            Assert.That(result.Stdout, Does.Contain(string.Join(' ', ["engine-client", .. command])));
            Assert.That(result.Stderr, Is.Empty);
        });
    }
}
