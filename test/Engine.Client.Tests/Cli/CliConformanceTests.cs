using System.Text.Json;
using System.Xml.Linq;
using Engine.Client.Conformance;
using Engine.Client.Tests.Conformance;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Cli;

/// <summary><c>engine-client conformance</c> against the reference worker.</summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class CliConformanceTests : ReferenceWorkerFixture
{

    [Test]
    public async Task Every_check_passes_with_a_line_each_and_exit_0()
    {
        var result = await CliProcess.RunAsync("conformance", "--worker", Worker.Address);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var ids = WorkerConformance.DefaultCheckIds;
        Assert.Multiple(() =>
        {
            Assert.That(lines, Has.Length.EqualTo(ids.Count + 1));
            for (var i = 0; i < ids.Count; i++)
            {
                Assert.That(lines[i], Does.StartWith($"ok   {ids[i]}  "));
            }

            Assert.That(lines[^1], Is.EqualTo($"{ids.Count} passed, 0 failed, 0 not applicable (profile: reference worker, built in; give yours with --profile)"));
        });
    }

    [Test]
    public async Task Chosen_checks_in_json()
    {
        var result = await CliProcess.RunAsync("conformance", "--worker", Worker.Address, "--check", "C17", "--check", "c1", "--json");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var checks = json.RootElement.GetProperty("checks");
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("passed").GetInt32(), Is.EqualTo(2));
            Assert.That(json.RootElement.GetProperty("failed").GetInt32(), Is.EqualTo(0));
            Assert.That(checks.EnumerateArray().Select(c => c.GetProperty("id").GetString()), Is.EqualTo(new[] { "C1", "C17" }));
            Assert.That(checks.EnumerateArray().Select(c => c.GetProperty("status").GetString()), Is.All.EqualTo("passed"));
            Assert.That(checks[0].EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "id", "description", "status", "message", "durationSeconds", "rule", "expected", "sent", "received", "profileKey", "advisory" }));
        });
    }

    [Test]
    public async Task A_check_that_fails_exits_1_and_says_why()
    {
        // 1 ms per wait: the first check's connection alone takes longer.
        var result = await CliProcess.RunAsync("conformance", "--worker", Worker.Address, "--check", "C1", "--timeout", "1ms");

        Assert.That(result.ExitCode, Is.EqualTo(1), result.ToString());
        Assert.That(result.Stdout, Does.StartWith("FAIL C1  "));
        Assert.That(result.Stdout, Does.Contain("0 passed, 1 failed"));
    }

    [Test]
    public async Task The_reference_workers_profile_file_gives_the_same_run_as_the_default()
    {
        var result = await CliProcess.RunAsync("conformance", "--worker", Worker.Address, "--profile", ConformanceProfileTests.ReferenceProfilePath);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(result.Stdout, Does.Contain($"{WorkerConformance.DefaultCheckIds.Count} passed, 0 failed, 0 not applicable (profile: reference worker, {ConformanceProfileTests.ReferenceProfilePath})"));
    }

    [Test]
    public async Task A_profile_without_a_user_error_reports_C8_not_applicable_with_its_key_and_exits_0()
    {
        var profile = Path.Combine(CliTestFiles.Directory, "echo-only-profile.json");
        await File.WriteAllTextAsync(profile, """{ "name": "echo only", "echo": { "format": "echo" }, "initFailure": { "format": "no-such-format" } }""");

        var result = await CliProcess.RunAsync("conformance", "--worker", Worker.Address, "--profile", profile, "--check", "C8", "--check", "C1", "--json");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var c8 = json.RootElement.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("id").GetString() == "C8");
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("notApplicable").GetInt32(), Is.EqualTo(1));
            Assert.That(c8.GetProperty("status").GetString(), Is.EqualTo("not-applicable"));
            Assert.That(c8.GetProperty("profileKey").GetString(), Is.EqualTo("userError"));
        });
    }

    [TestCase("no-such-profile.json", "--profile")]
    [TestCase("bad", "The profile key echo.fromat is unknown")]
    public async Task An_unusable_profile_exits_2_naming_the_problem(string name, string expected)
    {
        var path = Path.Combine(CliTestFiles.Directory, name);
        if (name == "bad")
        {
            path = Path.Combine(CliTestFiles.Directory, "bad-profile.json");
            await File.WriteAllTextAsync(path, """{ "echo": { "fromat": "echo" } }""");
        }

        var result = await CliProcess.RunAsync("conformance", "--worker", Worker.Address, "--profile", path);

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stderr, Does.Contain(expected));
    }

    [Test]
    public async Task A_failure_names_its_rule_what_was_sent_what_came_back_and_what_a_correct_worker_sends_in_text_json_and_junit()
    {
        // The scripted worker breaks rule 6 in C6 only: it answers Cancel with FinishResponse.
        await using var broken = await new DeviantWorker("C6").StartAsync();
        var junit = Path.Combine(CliTestFiles.Directory, $"junit-{Guid.NewGuid():N}.xml");
        var profile = Path.Combine(CliTestFiles.Directory, $"profile-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(profile, DeviantWorker.Profile);
        var address = broken.Address.ToString();

        var text = await CliProcess.RunAsync("conformance", "--worker", address, "--profile", profile, "--check", "C6", "--check", "C1", "--junit", junit);
        var json = await CliProcess.RunAsync("conformance", "--worker", address, "--profile", profile, "--check", "C6", "--json");

        Assert.That(text.ExitCode, Is.EqualTo(1), text.ToString());
        Assert.That(json.ExitCode, Is.EqualTo(1), json.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(text.Stdout, Does.Contain("FAIL C6  "));
            Assert.That(text.Stdout, Does.Contain("rule: docs/protocol.md#rule-6-termination"));
            Assert.That(text.Stdout, Does.Contain("sent: Init(format 'echo', 22-byte payload, protocol_version 1, data_format Arrow), DataRequest(1 bytes), Cancel\n"));
            Assert.That(text.Stdout, Does.Contain("received: InitResponse, DataResponse(1 bytes), FinishResponse"));
            Assert.That(text.Stdout, Does.Contain("a correct worker sends: CancelResponse, then the call ends with status OK"));
            Assert.That(text.Stdout, Does.Contain("1 passed, 1 failed, 0 not applicable"));
        });

        using var document = JsonDocument.Parse(json.Stdout);
        var check = document.RootElement.GetProperty("checks")[0];
        Assert.Multiple(() =>
        {
            Assert.That(check.GetProperty("status").GetString(), Is.EqualTo("failed"));
            Assert.That(check.GetProperty("rule").GetString(), Is.EqualTo("docs/protocol.md#rule-6-termination"));
            Assert.That(check.GetProperty("received").EnumerateArray().Select(e => e.GetString()), Does.Contain("FinishResponse"));
            Assert.That(check.GetProperty("sent").EnumerateArray().Select(e => e.GetString()), Does.Contain("Cancel"));
            Assert.That(check.GetProperty("expected").GetString(), Does.StartWith("CancelResponse"));
        });

        var suite = XDocument.Load(junit).Root!;
        var cases = suite.Elements("testcase").ToList();
        Assert.Multiple(() =>
        {
            Assert.That(suite.Name.LocalName, Is.EqualTo("testsuite"));
            Assert.That(suite.Attribute("tests")!.Value, Is.EqualTo("2"));
            Assert.That(suite.Attribute("failures")!.Value, Is.EqualTo("1"));
            Assert.That(cases.Select(c => c.Attribute("name")!.Value), Has.Some.StartWith("C1: ").And.Some.StartWith("C6: "));
            var failure = cases.Single(c => c.Attribute("name")!.Value.StartsWith("C6: ", StringComparison.Ordinal)).Element("failure");
            Assert.That(failure, Is.Not.Null);
            Assert.That(failure!.Attribute("type")!.Value, Is.EqualTo("docs/protocol.md#rule-6-termination"));
            Assert.That(failure.Value, Does.Contain("received: InitResponse, DataResponse(1 bytes), FinishResponse"));
            Assert.That(cases.Single(c => c.Attribute("name")!.Value.StartsWith("C1: ", StringComparison.Ordinal)).Element("failure"), Is.Null);
        });
    }

    [Test]
    public async Task With_a_specification_the_kit_launches_the_worker_checks_its_process_contract_and_the_protocol()
    {
        var junit = Path.Combine(CliTestFiles.Directory, $"junit-{Guid.NewGuid():N}.xml");

        var result = await CliProcess.RunAsync("conformance", "--spec", CliTestFiles.ValidSpec, "--junit", junit);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var ids = WorkerConformance.ProcessChecks.Select(c => c.Id).Concat(WorkerConformance.DefaultCheckIds).ToList();
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Multiple(() =>
        {
            for (var i = 0; i < ids.Count; i++)
            {
                Assert.That(lines[i], Does.StartWith($"ok   {ids[i]}  "));
            }

            Assert.That(lines[^1], Does.StartWith($"{ids.Count} passed, 0 failed, 0 not applicable"));
            Assert.That(XDocument.Load(junit).Root!.Elements("testcase").Count(), Is.EqualTo(ids.Count));
        });
    }

    [Test]
    public async Task An_advisory_check_the_worker_does_not_follow_is_a_warning_with_exit_0_and_fails_with_exit_1_when_strict()
    {
        // The reference worker in its fault mode that rejects unknown flags, as a strict parser does.
        var spec = Path.Combine(CliTestFiles.Directory, $"reject-unknown-flags-{Guid.NewGuid():N}.spec.json");
        var quoted = $"\"{ReferenceWorkerProcess.ExecutablePath}\"";
        await File.WriteAllTextAsync(spec, (await File.ReadAllTextAsync(CliTestFiles.ValidSpec)).Replace($"[{quoted}]", $"[{quoted}, \"--fault\", \"reject-unknown-flags\"]", StringComparison.Ordinal));
        var junit = Path.Combine(CliTestFiles.Directory, $"junit-{Guid.NewGuid():N}.xml");
        var strictJunit = Path.Combine(CliTestFiles.Directory, $"junit-{Guid.NewGuid():N}.xml");

        var text = await CliProcess.RunAsync("conformance", "--spec", spec, "--check", "process-unknown-flags", "--check", "process-ready", "--junit", junit);
        var json = await CliProcess.RunAsync("conformance", "--spec", spec, "--check", "process-unknown-flags", "--json");
        var strict = await CliProcess.RunAsync("conformance", "--spec", spec, "--check", "process-unknown-flags", "--strict", "--junit", strictJunit);

        Assert.Multiple(() =>
        {
            Assert.That(text.ExitCode, Is.EqualTo(0), text.ToString());
            Assert.That(text.Stdout, Does.Contain("WARN process-unknown-flags  "));
            Assert.That(text.Stdout, Does.Contain("advisory: a recommendation of the protocol, not a requirement; it does not fail the run (--strict makes it fail)"));
            Assert.That(text.Stdout, Does.Contain("rule: docs/protocol.md#worker-process-recommendations"));
            Assert.That(text.Stdout, Does.Contain("unknown argument '--engine-client-conformance-unknown-flag'"));
            Assert.That(text.Stdout, Does.Contain("1 passed, 0 failed, 0 not applicable, 1 advisory warning (profile: "));
            Assert.That(json.ExitCode, Is.EqualTo(0), json.ToString());
            Assert.That(strict.ExitCode, Is.EqualTo(1), strict.ToString());
            Assert.That(strict.Stdout, Does.Contain("FAIL process-unknown-flags  "));
            Assert.That(strict.Stdout, Does.Contain("advisory: a recommendation of the protocol, failed because of --strict"));
            Assert.That(strict.Stdout, Does.Contain("0 passed, 1 failed, 0 not applicable (profile: "));
        });

        using var document = JsonDocument.Parse(json.Stdout);
        var check = document.RootElement.GetProperty("checks")[0];
        Assert.Multiple(() =>
        {
            Assert.That(document.RootElement.GetProperty("failed").GetInt32(), Is.EqualTo(0));
            Assert.That(document.RootElement.GetProperty("warnings").GetInt32(), Is.EqualTo(1));
            Assert.That(check.GetProperty("id").GetString(), Is.EqualTo("process-unknown-flags"));
            Assert.That(check.GetProperty("status").GetString(), Is.EqualTo("warning"));
            Assert.That(check.GetProperty("advisory").GetBoolean(), Is.True);
            Assert.That(check.GetProperty("message").GetString(), Does.Contain("despite the unknown flags"));
        });

        var suite = XDocument.Load(junit).Root!;
        var warned = suite.Elements("testcase").Single(c => c.Attribute("name")!.Value.StartsWith("process-unknown-flags: ", StringComparison.Ordinal));
        var strictSuite = XDocument.Load(strictJunit).Root!;
        Assert.Multiple(() =>
        {
            Assert.That(suite.Attribute("tests")!.Value, Is.EqualTo("2"));
            Assert.That(suite.Attribute("failures")!.Value, Is.EqualTo("0"));
            Assert.That(warned.Element("failure"), Is.Null);
            Assert.That(warned.Element("system-out")!.Value, Does.StartWith("WARNING (advisory").And.Contain("rule: docs/protocol.md#worker-process-recommendations"));
            Assert.That(strictSuite.Attribute("failures")!.Value, Is.EqualTo("1"));
            Assert.That(strictSuite.Element("testcase")!.Element("failure"), Is.Not.Null);
        });
    }

    [TestCase("--check", "process-sigterm", "it needs --spec")]
    [TestCase("--spec", "x.json", "give exactly one")]
    public async Task Process_checks_need_a_specification_and_worker_and_spec_exclude_each_other(string option, string value, string expected)
    {
        var result = await CliProcess.RunAsync("conformance", "--worker", Worker.Address, option, value);

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stderr, Does.Contain(expected));
    }

    [Test]
    public async Task An_unreachable_worker_exits_3_with_one_line()
    {
        var result = await CliProcess.RunAsync("conformance", "--worker", CliTestFiles.UnreachableAddress);

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        Assert.That(result.StderrLines, Has.Count.EqualTo(1));
        Assert.That(result.Stderr, Does.Contain("did not answer a heartbeat"));
    }
}
