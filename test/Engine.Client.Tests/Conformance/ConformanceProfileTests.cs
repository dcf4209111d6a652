using System.Text;
using Engine.Client.Conformance;
using Engine.Client.Protocol;
using Engine.Client.Tests.Workers;

namespace Engine.Client.Tests.Conformance;

/// <summary>Profiles: the shipped files, what a profile leaves out (not applicable, never failed), and malformed profiles.</summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class ConformanceProfileTests
{
    public static string ReferenceProfilePath => Path.Combine(Specs.RepositoryRoot(), "src", "Engine.ReferenceWorker", "conformance-profile.json");

    [Test]
    public void The_reference_workers_profile_file_is_the_default()
    {
        var file = WorkerConformanceOptions.LoadProfile(ReferenceProfilePath);
        var defaults = new WorkerConformanceOptions();

        Assert.Multiple(() =>
        {
            Assert.That(file.ProfileName, Is.EqualTo(defaults.ProfileName));
            Assert.That(file.EchoFormat, Is.EqualTo(defaults.EchoFormat));
            Assert.That(file.EchoPayload.ToArray(), Is.EqualTo(defaults.EchoPayload.ToArray()));
            Assert.That(file.InitFailureFormat, Is.EqualTo(defaults.InitFailureFormat));
            Assert.That(file.InitFailurePayload.ToArray(), Is.EqualTo(defaults.InitFailurePayload.ToArray()));
            Assert.That(file.ExpectedInitFailureKind, Is.EqualTo(defaults.ExpectedInitFailureKind));
            Assert.That(file.UserErrorFormat, Is.EqualTo(defaults.UserErrorFormat));
            Assert.That(file.UserErrorPayload.ToArray(), Is.EqualTo(defaults.UserErrorPayload.ToArray()));
            Assert.That(file.UserErrorBatch, Is.EqualTo(defaults.UserErrorBatch));
            Assert.That(file.ExpectedUserErrorMessage, Is.EqualTo(defaults.ExpectedUserErrorMessage));
            Assert.That(file.ExpectedUserErrorClass, Is.EqualTo(defaults.ExpectedUserErrorClass));
            Assert.That(file.ExpectedUserErrorTraceback, Is.EqualTo(defaults.ExpectedUserErrorTraceback));
            Assert.That(file.LargeOutputFormat, Is.EqualTo(defaults.LargeOutputFormat));
            Assert.That(file.LargeOutputPayload.ToArray(), Is.EqualTo(defaults.LargeOutputPayload.ToArray()));
            Assert.That(file.LargeOutputBytes, Is.EqualTo(defaults.LargeOutputBytes));
            Assert.That(file.KeepAlivePingDelay, Is.EqualTo(defaults.KeepAlivePingDelay));
            Assert.That(file.ArrowOutputFormat, Is.EqualTo(defaults.ArrowOutputFormat));
            Assert.That(file.ArrowOutputPayload.ToArray(), Is.EqualTo(defaults.ArrowOutputPayload.ToArray()));
            Assert.That(file.ArrowOutputInputSchema.ToArray(), Is.EqualTo(defaults.ArrowOutputInputSchema.ToArray()));
            Assert.That(file.ArrowOutputSchema.ToArray(), Is.EqualTo(defaults.ArrowOutputSchema.ToArray()));
            Assert.That(file.ArrowSchema, Is.Null);
            Assert.That(file.Batches.Select(b => b.ToArray()), Is.EqualTo(defaults.Batches.Select(b => b.ToArray())));
        });
    }

    [Test]
    public void The_python_workers_profile_names_its_own_failing_init_and_user_error()
    {
        var profile = WorkerConformanceOptions.LoadProfile(Path.Combine(Specs.RepositoryRoot(), "test", "workers", "python", "conformance-profile.json"));

        Assert.Multiple(() =>
        {
            Assert.That(profile.InitFailureFormat, Is.EqualTo("hold-finish"));
            Assert.That(profile.ExpectedInitFailureKind, Is.EqualTo(ExecutionError.KindOneofCase.User));
            Assert.That(profile.UserErrorFormat, Is.EqualTo("raise"));
            Assert.That(profile.ExpectedUserErrorClass, Is.EqualTo("ValueError"));
        });
    }

    [Test]
    public async Task Behaviours_a_profile_leaves_out_are_not_applicable_with_their_key_and_the_rest_pass()
    {
        await using var host = await new DeviantWorker(breaks: null).StartAsync();
        var options = WorkerConformanceOptions.ParseProfile("""{ "name": "echo only", "echo": { "format": "echo" } }""");
        await using var conformance = WorkerConformance.Create(host.Address, options: options);

        var results = await conformance.RunAsync(WorkerConformance.Checks.Select(c => c.Id)).WaitAsync(TimeSpan.FromSeconds(120));

        var notApplicable = results.Where(r => r.Status == ConformanceStatus.NotApplicable).ToDictionary(r => r.Check.Id, r => r.ProfileKey);
        Assert.Multiple(() =>
        {
            Assert.That(notApplicable, Is.EquivalentTo(new Dictionary<string, string?> { ["C8"] = "userError", ["C10"] = "initFailure", ["C11"] = "initFailure", ["large-output"] = "largeOutput", ["keepalive-pings"] = "keepalive", ["arrow-output"] = "arrowOutput" }));
            Assert.That(results.Where(r => r.Status == ConformanceStatus.Failed), Is.Empty);
            Assert.That(results.Single(r => r.Check.Id == "C8").Message, Does.Contain("profile key 'userError'"));
        });
    }

    [Test]
    public async Task Without_an_echo_every_check_that_needs_one_is_not_applicable_and_the_others_run()
    {
        await using var host = await new DeviantWorker(breaks: null).StartAsync();
        await using var conformance = WorkerConformance.Create(host.Address, options: WorkerConformanceOptions.ParseProfile("{}"));

        var results = await conformance.RunAsync(WorkerConformance.Checks.Select(c => c.Id)).WaitAsync(TimeSpan.FromSeconds(120));

        Assert.Multiple(() =>
        {
            Assert.That(results.Where(r => r.Status == ConformanceStatus.Passed).Select(r => r.Check.Id), Is.EquivalentTo(new[] { "C13", "C17", "C18" }));
            Assert.That(results.Where(r => r.Status == ConformanceStatus.Failed), Is.Empty);
            Assert.That(
                results.Where(r => r.Status == ConformanceStatus.NotApplicable && r.Check.Id is not ("C8" or "C10" or "C11" or "large-output" or "keepalive-pings" or "arrow-output")).Select(r => r.ProfileKey),
                Is.All.EqualTo("echo"));
        });
    }

    [TestCase("""{ "echo": { "format": "echo" }, "typo": 1 }""", "The profile key typo is unknown")]
    [TestCase("""{ "echo": { "fromat": "echo" } }""", "The profile key echo.fromat is unknown")]
    [TestCase("""{ "echo": { "payload": "x" } }""", "The profile key echo.format is required")]
    [TestCase("""{ "initFailure": { "format": "f", "errorKind": "fatal" } }""", "initFailure.errorKind must be")]
    [TestCase("""{ "userError": { "format": "f", "batch": 3 } }""", "userError.batch must be 0, 1 or 2")]
    [TestCase("""{ "echo": { "format": "echo", "payload": "x", "payloadBase64": "eA==" } }""", "give one")]
    [TestCase("""{ "schema": [ { "name": "x", "type": "decimal" } ] }""", "schema[0].type must be one of")]
    [TestCase("""{ "schema": "bytes" }""", "The profile key schema must be")]
    [TestCase("""{ "largeOutput": { "format": "big", "bytes": 4194304 } }""", "largeOutput.bytes is required")]
    [TestCase("""{ "keepalive": { "pingDelayMs": 500 } }""", "keepalive.pingDelayMs is required")]
    [TestCase("""{ "arrowOutput": { "format": "f", "outputSchema": [ { "name": "n", "type": "int64" } ] } }""", "arrowOutput.inputSchema is required")]
    [TestCase("""{ "arrowOutput": { "format": "f", "inputSchema": [ { "name": "n", "type": "int64" } ], "outputSchema": [] } }""", "arrowOutput.outputSchema must be a non-empty array")]
    [TestCase("""[1]""", "must be a JSON object")]
    [TestCase("""{ "echo": """, "not valid JSON")]
    public void A_malformed_profile_is_rejected_naming_the_key(string json, string expected)
    {
        var error = Assert.Throws<FormatException>(() => WorkerConformanceOptions.ParseProfile(json));

        Assert.That(error!.Message, Does.Contain(expected));
    }

    [Test]
    public void Arrow_output_that_is_not_an_Arrow_stream_is_named_as_such()
    {
        var declared = new Apache.Arrow.Schema([new Apache.Arrow.Field("n", Apache.Arrow.Types.Int64Type.Default, nullable: true)], null);

        var difference = ConformanceArrow.FindOutputDifference(declared, "not arrow at all"u8.ToArray());

        Assert.That(difference, Does.StartWith("the 16-byte output is not a valid Arrow IPC stream"));
    }

    [Test]
    public void A_binary_payload_is_given_in_base64()
    {
        var profile = WorkerConformanceOptions.ParseProfile("""{ "echo": { "format": "echo", "payloadBase64": "AAECAw==" } }""");

        Assert.That(profile.EchoPayload.ToArray(), Is.EqualTo(new byte[] { 0, 1, 2, 3 }));
    }

    [Test]
    public async Task An_arrow_schema_sends_arrow_batches_and_the_reference_workers_echo_passes()
    {
        await using var worker = await ReferenceWorker.ReferenceWorkerProcess.StartAsync();
        const string Schema = """[ { "name": "id", "type": "int64" }, { "name": "name", "type": "utf8" }, { "name": "score", "type": "float64", "nullable": false }, { "name": "ok", "type": "bool" }, { "name": "n", "type": "int32" } ]""";
        var options = WorkerConformanceOptions.ParseProfile(File.ReadAllText(ReferenceProfilePath).Replace("\"opaque\"", Schema, StringComparison.Ordinal));
        Assert.That(options.ArrowSchema, Is.Not.Null);
        using var conformance = WorkerConformance.Create(worker.Address, options: options);

        var results = await conformance.RunAsync(WorkerConformance.DefaultCheckIds).WaitAsync(TimeSpan.FromSeconds(120));

        Assert.That(results.Where(r => !r.Passed), Is.Empty, worker.Describe());
    }

    [Test]
    public void Echoed_arrow_is_compared_by_schema_and_value()
    {
        var options = WorkerConformanceOptions.ParseProfile("""{ "schema": [ { "name": "id", "type": "int64" }, { "name": "s", "type": "utf8" } ] }""");
        var batches = options.Batches;

        Assert.Multiple(() =>
        {
            Assert.That(ConformanceArrow.FindEchoDifference(batches[0], batches[0]), Is.Null);
            Assert.That(ConformanceArrow.FindEchoDifference(batches[0], batches[1]), Does.StartWith("row 0 differs"));
            Assert.That(ConformanceArrow.FindEchoDifference(batches[0], Encoding.UTF8.GetBytes("not arrow")), Does.StartWith("the output is not a valid Arrow IPC stream"));
            var other = WorkerConformanceOptions.ParseProfile("""{ "schema": [ { "name": "id", "type": "int32" } ] }""").Batches[0];
            Assert.That(ConformanceArrow.FindEchoDifference(batches[0], other), Does.StartWith("the output's schema differs"));
        });
    }
}
