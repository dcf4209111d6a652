using System.Runtime.Versioning;
using Engine.Client.Protocol;
using Google.Protobuf;

namespace Engine.Client.Tests.Workers;

[UnsupportedOSPlatform("windows")]
public class WorkerSpecificationTests
{
    private const string CamelCase = """
        {
          "environment": {
            "installation": { "command": ["sh", "install.sh"], "environmentVariables": { "MODE": "fast" } },
            "environmentVerification": { "command": ["sh", "verify.sh"] },
            "environmentCleanup": { "command": ["sh", "cleanup.sh"] }
          },
          "capabilities": {
            "supportedDataFormats": ["ARROW"],
            "supportedCommunicationPatterns": ["BIDIRECTIONAL_STREAMING"],
            "supportsConcurrentUdfs": true,
            "supportsReuse": true
          },
          "direct": {
            "runner": { "command": ["python3", "-m", "worker"], "arguments": ["--verbose"], "environmentVariables": { "A": "1" } },
            "properties": {
              "initializationTimeoutMs": 12000,
              "gracefulTerminationTimeoutMs": 3000,
              "connection": { "tcp": {} }
            }
          }
        }
        """;

    private const string SnakeCase = """
        {
          "environment": {
            "installation": { "command": ["sh", "install.sh"], "environment_variables": { "MODE": "fast" } },
            "environment_verification": { "command": ["sh", "verify.sh"] },
            "environment_cleanup": { "command": ["sh", "cleanup.sh"] }
          },
          "capabilities": {
            "supported_data_formats": ["ARROW"],
            "supported_communication_patterns": ["BIDIRECTIONAL_STREAMING"],
            "supports_concurrent_udfs": true,
            "supports_reuse": true
          },
          "direct": {
            "runner": { "command": ["python3", "-m", "worker"], "arguments": ["--verbose"], "environment_variables": { "A": "1" } },
            "properties": {
              "initialization_timeout_ms": 12000,
              "graceful_termination_timeout_ms": 3000,
              "connection": { "tcp": {} }
            }
          }
        }
        """;

    [TestCase(CamelCase)]
    [TestCase(SnakeCase)]
    public void Json_in_either_naming_reads_every_field(string json)
    {
        var spec = WorkerSpecification.Parse(json).Validate();

        Assert.Multiple(() =>
        {
            Assert.That(spec.Runner.Command, Is.EqualTo(new[] { "python3", "-m", "worker" }));
            Assert.That(spec.Runner.Arguments, Is.EqualTo(new[] { "--verbose" }));
            Assert.That(spec.Runner.EnvironmentVariables["A"], Is.EqualTo("1"));
            Assert.That(spec.Transport, Is.EqualTo(WorkerTransport.Tcp));
            Assert.That(spec.SupportsReuse, Is.True);
            Assert.That(spec.SupportsConcurrentUdfs, Is.True);
            Assert.That(spec.InitializationTimeout, Is.EqualTo(TimeSpan.FromSeconds(12)));
            Assert.That(spec.GracefulTerminationTimeout, Is.EqualTo(TimeSpan.FromSeconds(3)));
            Assert.That(spec.Installation!.Command, Is.EqualTo(new[] { "sh", "install.sh" }));
            Assert.That(spec.Installation.EnvironmentVariables["MODE"], Is.EqualTo("fast"));
            Assert.That(spec.EnvironmentVerification!.Executable, Is.EqualTo("sh"));
            Assert.That(spec.EnvironmentCleanup!.Command[1], Is.EqualTo("cleanup.sh"));
            Assert.That(spec.SourcePath, Is.Null);
        });
    }

    [Test]
    public void Both_namings_give_the_same_message()
    {
        Assert.That(WorkerSpecification.Parse(SnakeCase).ToProto(), Is.EqualTo(WorkerSpecification.Parse(CamelCase).ToProto()));
    }

    [Test]
    public void Binary_round_trips()
    {
        var original = WorkerSpecification.Parse(CamelCase).ToProto();
        var spec = WorkerSpecification.FromBinary(original.ToByteArray()).Validate();
        Assert.That(spec.ToProto(), Is.EqualTo(original));
    }

    [Test]
    public void Load_picks_json_or_binary_by_content()
    {
        using var dir = new TempDir();
        var expected = WorkerSpecification.Parse(CamelCase).ToProto();
        File.WriteAllText(dir.File("spec.json"), "\n\t  " + CamelCase);
        File.WriteAllBytes(dir.File("spec.bin"), expected.ToByteArray());
        File.WriteAllText(dir.File("spec.with-bom"), CamelCase, new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: true));

        var json = WorkerSpecification.Load(dir.File("spec.json"));
        var binary = WorkerSpecification.Load(dir.File("spec.bin"));
        var bom = WorkerSpecification.Load(dir.File("spec.with-bom"));

        Assert.Multiple(() =>
        {
            Assert.That(json.ToProto(), Is.EqualTo(expected));
            Assert.That(binary.ToProto(), Is.EqualTo(expected));
            Assert.That(bom.ToProto(), Is.EqualTo(expected));
            Assert.That(json.SourcePath, Is.EqualTo(dir.File("spec.json")));
            Assert.That(json.BaseDirectory, Is.EqualTo(dir.Path));
        });
    }

    [Test]
    public void Load_reads_a_binary_message_whose_first_bytes_look_like_json()
    {
        // Field 1 (environment), length 123: the bytes 0x0A 0x7B read as whitespace then '{'.
        var spec = Specs.Direct(["w"]);
        spec.Environment = new WorkerEnvironment { Installation = Specs.Callable("sh", new string('x', 115)) };
        var bytes = spec.ToByteArray();
        Assert.That(bytes[0..2], Is.EqualTo(new byte[] { 0x0A, 0x7B }), "the environment must serialize first with length 123");
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("spec.bin"), bytes);

        Assert.That(WorkerSpecification.Load(dir.File("spec.bin")).ToProto(), Is.EqualTo(spec));
    }

    [Test]
    public void The_shipped_example_is_valid_and_launches_the_reference_worker()
    {
        var path = Path.Combine(Specs.RepositoryRoot(), "docs", "examples", "reference-worker.spec.json");
        var spec = WorkerSpecification.Load(path).Validate();

        Assert.Multiple(() =>
        {
            Assert.That(spec.Runner.Command, Is.EqualTo(new[] { "Engine.ReferenceWorker" }));
            Assert.That(spec.Transport, Is.EqualTo(WorkerTransport.UnixDomainSocket));
            Assert.That(spec.Runner.Arguments, Does.Not.Contain("--id").And.Not.Contain("--connection"));
        });
    }

    [Test]
    public void Load_of_a_missing_file_says_so_and_names_the_path()
    {
        using var dir = new TempDir();
        var ex = Assert.Throws<WorkerSpecificationException>(() => WorkerSpecification.Load(dir.File("nope.json")));
        Assert.Multiple(() =>
        {
            Assert.That(ex!.Message, Does.Contain("does not exist").And.Contain(dir.File("nope.json")));
            Assert.That(ex.Source, Is.EqualTo(dir.File("nope.json")));
            Assert.That(ex.InnerException, Is.InstanceOf<FileNotFoundException>());
        });
    }

    [Test]
    public void Load_of_a_missing_directory_says_so()
    {
        using var dir = new TempDir();
        var ex = Assert.Throws<WorkerSpecificationException>(() => WorkerSpecification.Load(dir.File("no/such/spec.json")));
        Assert.That(ex!.Message, Does.Contain("directory does not exist"));
    }

    [Test]
    public void Load_of_a_directory_says_it_is_one()
    {
        using var dir = new TempDir();
        var ex = Assert.Throws<WorkerSpecificationException>(() => WorkerSpecification.Load(dir.Path));
        Assert.That(ex!.Message, Does.Contain("is a directory"));
    }

    [Test]
    public void Load_of_an_empty_file_says_it_is_empty()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("spec.json"), string.Empty);
        var ex = Assert.Throws<WorkerSpecificationException>(() => WorkerSpecification.Load(dir.File("spec.json")));
        Assert.That(ex!.Message, Does.Contain("is empty"));
    }

    [Test]
    public void Load_of_garbage_says_it_is_neither_json_nor_binary()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("spec.bin"), [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
        var ex = Assert.Throws<WorkerSpecificationException>(() => WorkerSpecification.Load(dir.File("spec.bin")));
        Assert.That(ex!.Message, Does.Contain("neither protobuf JSON").And.Contain("binary protobuf"));
    }

    [Test]
    public void Malformed_json_names_line_and_position()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("spec.json"), "{\n  \"direct\": {\n    \"runner\": { \"command\": [\"w\",] }\n  }\n}");
        var ex = Assert.Throws<WorkerSpecificationException>(() => WorkerSpecification.Load(dir.File("spec.json")));
        Assert.Multiple(() =>
        {
            Assert.That(ex!.Message, Does.Contain("not valid JSON at line 3"));
            Assert.That(ex.Message, Does.Contain(dir.File("spec.json")));
            Assert.That(ex.Problems, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public void Unknown_fields_and_wrong_shapes_are_all_named_by_path()
    {
        const string Json = """
            {
              "direct": {
                "runner": { "comand": ["w"], "arguments": "--x" },
                "properties": { "initializationTimeoutMs": "soon", "connection": { "unixDomainSocket": {} } }
              },
              "capabilities": { "supportedDataFormats": ["PARQUET"], "supportsReuse": "yes" }
            }
            """;
        var ex = Assert.Throws<WorkerSpecificationException>(() => WorkerSpecification.Parse(Json));

        Assert.That(ex!.Problems, Has.Count.EqualTo(5));
        Assert.Multiple(() =>
        {
            Assert.That(ex.Problems, Has.One.StartsWith("direct.runner.comand: unknown field").And.Contains("command"));
            Assert.That(ex.Problems, Has.One.StartsWith("direct.runner.arguments: is a string; it must be an array"));
            Assert.That(ex.Problems, Has.One.StartsWith("direct.properties.initializationTimeoutMs: \"soon\" is not a 32-bit integer"));
            Assert.That(ex.Problems, Has.One.StartsWith("capabilities.supportedDataFormats[0]: 'PARQUET' is not a UDFWorkerDataFormat value; use one of ARROW"));
            Assert.That(ex.Problems, Has.One.StartsWith("capabilities.supportsReuse: is a string; it must be true or false"));
        });
    }

    [Test]
    public void Two_transports_at_once_are_rejected()
    {
        var ex = Assert.Throws<WorkerSpecificationException>(() => WorkerSpecification.Parse(
            """{ "direct": { "properties": { "connection": { "tcp": {}, "unixDomainSocket": {} } } } }"""));
        Assert.That(ex!.Problems, Is.EqualTo(new[] { "direct.properties.connection: sets both tcp and unixDomainSocket; a worker has one transport, so keep exactly one." }));
    }

    [Test]
    public void Validate_reports_every_problem_at_once_with_json_paths()
    {
        var proto = Specs.Direct(["w"], arguments: ["--id", "x"]);
        proto.Direct.Properties.Connection = null;
        proto.Capabilities.SupportedDataFormats.Clear();
        proto.Environment = new WorkerEnvironment { EnvironmentVerification = Specs.Callable("verify") };
        var spec = WorkerSpecification.FromProto(proto);

        var ex = Assert.Throws<WorkerSpecificationException>(() => spec.Validate());

        Assert.That(ex!.Problems, Has.Count.EqualTo(4));
        Assert.Multiple(() =>
        {
            Assert.That(spec.IsValid, Is.False);
            Assert.That(spec.Problems, Is.EqualTo(ex.Problems));
            Assert.That(ex.Message, Does.Contain("(4 problems)"));
            Assert.That(ex.Message, Does.Contain("direct.runner.arguments[0]: '--id' is reserved"));
            Assert.That(ex.Message, Does.Contain("direct.properties.connection: missing"));
            Assert.That(ex.Message, Does.Contain("capabilities.supportedDataFormats: does not include ARROW"));
            Assert.That(ex.Message, Does.Contain("environment.installation: missing"));
        });
    }

    [Test]
    public void D14_a_spec_without_a_connection_is_rejected()
    {
        var noConnection = Specs.Direct(["w"]);
        noConnection.Direct.Properties.Connection = null;
        var noProperties = Specs.Direct(["w"]);
        noProperties.Direct.Properties = null;

        foreach (var proto in new[] { noConnection, noProperties })
        {
            var ex = Assert.Throws<WorkerSpecificationException>(() => WorkerSpecification.FromProto(proto).Validate());
            Assert.That(ex!.Problems, Is.EqualTo(new[] { ex.Problems[0] }));
            Assert.That(ex.Problems[0], Does.StartWith("direct.properties.connection: missing").And.Contain("unixDomainSocket"));
        }
    }

    [Test]
    public void D15_a_connection_without_a_transport_is_rejected_clearly()
    {
        var proto = Specs.Direct(["w"]);
        proto.Direct.Properties.Connection = new WorkerConnectionSpec();

        var ex = Assert.Throws<WorkerSpecificationException>(() => WorkerSpecification.FromProto(proto).Validate());
        Assert.That(ex!.Problems, Is.EqualTo(new[] { "direct.properties.connection: no transport set. Set exactly one: \"connection\": { \"unixDomainSocket\": {} } (or { \"tcp\": {} })." }));
    }

    [Test]
    public void D15_an_unknown_transport_in_json_is_rejected_clearly()
    {
        var ex = Assert.Throws<WorkerSpecificationException>(() => WorkerSpecification.Parse(
            """{ "direct": { "runner": { "command": ["w"] }, "properties": { "connection": { "vsock": {} } } } }"""));

        // Listed with the rules' other problems (capabilities is missing), without a "no transport set" that repeats it.
        Assert.That(ex!.Problems, Has.Count.EqualTo(2), string.Join(" | ", ex.Problems));
        Assert.That(ex.Problems[1], Does.StartWith("capabilities"));
        Assert.That(ex.Problems[0], Does.StartWith("direct.properties.connection.vsock: 'vsock' is not a transport this engine supports").And.Contain("unixDomainSocket").And.Contain("tcp"));
    }

    [Test]
    public void D15_an_unknown_transport_in_binary_is_rejected_clearly()
    {
        // A newer engine's transport: field 3 of WorkerConnectionSpec, unknown here.
        var connection = new byte[] { 0x1A, 0x00 };
        var properties = new byte[] { 0x1A, (byte)connection.Length }.Concat(connection).ToArray();
        var runner = new ProcessCallable { Command = { "w" } }.ToByteArray();
        var direct = new byte[] { 0x0A, (byte)runner.Length }.Concat(runner).Concat(new byte[] { 0x12, (byte)properties.Length }).Concat(properties).ToArray();
        var capabilities = new WorkerCapabilities
        {
            SupportedDataFormats = { UDFWorkerDataFormat.Arrow },
            SupportedCommunicationPatterns = { UDFProtoCommunicationPattern.BidirectionalStreaming },
        }.ToByteArray();
        var bytes = new byte[] { 0x12, (byte)capabilities.Length }.Concat(capabilities).Concat(new byte[] { 0x1A, (byte)direct.Length }).Concat(direct).ToArray();

        var spec = WorkerSpecification.FromBinary(bytes);

        Assert.That(spec.Problems, Has.Count.EqualTo(1));
        Assert.That(spec.Problems[0], Does.StartWith("direct.properties.connection: sets a transport this engine does not support (field 3 of WorkerConnectionSpec)"));
    }

    [TestCase(new string[0], "direct.runner.command: is empty")]
    [TestCase(new[] { "", " " }, "direct.runner.command: is empty")]
    [TestCase(new[] { " ", "worker.py" }, "direct.runner.command[0]: is blank")]
    public void D17_an_empty_command_is_rejected(string[] command, string expected)
    {
        var ex = Assert.Throws<WorkerSpecificationException>(() => WorkerSpecification.FromProto(Specs.Direct(command)).Validate());
        Assert.That(ex!.Problems, Has.Count.EqualTo(1));
        Assert.That(ex.Problems[0], Does.StartWith(expected));
    }

    [Test]
    public void A_missing_runner_or_direct_section_is_rejected()
    {
        var noRunner = Specs.Direct(["w"]);
        noRunner.Direct.Runner = null;
        var noDirect = Specs.Direct(["w"]);
        noDirect.Direct = null;

        Assert.Multiple(() =>
        {
            Assert.That(WorkerSpecification.FromProto(noRunner).Problems, Is.EqualTo(new[] { WorkerSpecification.FromProto(noRunner).Problems[0] }));
            Assert.That(WorkerSpecification.FromProto(noRunner).Problems[0], Does.StartWith("direct.runner: missing"));
            Assert.That(WorkerSpecification.FromProto(noDirect).Problems[0], Does.StartWith("direct: missing"));
        });
    }

    [TestCase("--id")]
    [TestCase("--connection")]
    [TestCase("--id=w1")]
    [TestCase("--connection=/tmp/x.sock")]
    public void Reserved_arguments_are_rejected(string argument)
    {
        var inArguments = WorkerSpecification.FromProto(Specs.Direct(["w"], arguments: ["--ok", argument]));
        var inCommand = WorkerSpecification.FromProto(Specs.Direct(["w", argument]));

        Assert.Multiple(() =>
        {
            Assert.That(inArguments.Problems, Has.Count.EqualTo(1));
            Assert.That(inArguments.Problems[0], Does.StartWith($"direct.runner.arguments[1]: '{argument}' is reserved"));
            Assert.That(inCommand.Problems, Has.Count.EqualTo(1));
            Assert.That(inCommand.Problems[0], Does.StartWith($"direct.runner.command[1]: '{argument}' is reserved"));
        });
    }

    [Test]
    public void Arguments_that_only_resemble_reserved_ones_are_accepted()
    {
        Assert.That(WorkerSpecification.FromProto(Specs.Direct(["w"], arguments: ["--identity", "--connections", "id"])).Problems, Is.Empty);
    }

    [Test]
    public void D31_capabilities_without_arrow_are_rejected()
    {
        var proto = Specs.Direct(["w"]);
        proto.Capabilities.SupportedDataFormats.Clear();
        Assert.That(WorkerSpecification.FromProto(proto).Problems, Is.EqualTo(new[]
        {
            "capabilities.supportedDataFormats: does not include ARROW. This engine exchanges data as Arrow; add \"ARROW\" (the worker must support it).",
        }));
    }

    [Test]
    public void D31_capabilities_without_bidirectional_streaming_are_rejected()
    {
        var proto = Specs.Direct(["w"]);
        proto.Capabilities.SupportedCommunicationPatterns.Clear();
        var problems = WorkerSpecification.FromProto(proto).Problems;
        Assert.That(problems, Has.Count.EqualTo(1));
        Assert.That(problems[0], Does.StartWith("capabilities.supportedCommunicationPatterns: does not include BIDIRECTIONAL_STREAMING"));
    }

    [Test]
    public void D31_unspecified_values_are_rejected_even_next_to_valid_ones()
    {
        var proto = Specs.Direct(["w"]);
        proto.Capabilities.SupportedDataFormats.Add(UDFWorkerDataFormat.Unspecified);
        proto.Capabilities.SupportedCommunicationPatterns.Insert(0, UDFProtoCommunicationPattern.Unspecified);
        var problems = WorkerSpecification.FromProto(proto).Problems;
        Assert.That(problems, Has.Count.EqualTo(2));
        Assert.Multiple(() =>
        {
            Assert.That(problems[0], Does.StartWith("capabilities.supportedDataFormats[1]: UDF_WORKER_DATA_FORMAT_UNSPECIFIED is not a data format"));
            Assert.That(problems[1], Does.StartWith("capabilities.supportedCommunicationPatterns[0]: UDF_PROTO_COMMUNICATION_PATTERN_UNSPECIFIED is not a communication pattern"));
        });
    }

    [Test]
    public void D31_unspecified_values_in_json_are_rejected()
    {
        var spec = WorkerSpecification.Parse("""
            {
              "capabilities": { "supportedDataFormats": ["UDF_WORKER_DATA_FORMAT_UNSPECIFIED"], "supportedCommunicationPatterns": ["BIDIRECTIONAL_STREAMING"] },
              "direct": { "runner": { "command": ["w"] }, "properties": { "connection": { "tcp": {} } } }
            }
            """);
        Assert.That(spec.Problems, Has.Count.EqualTo(2));
        Assert.That(spec.Problems, Has.One.StartsWith("capabilities.supportedDataFormats[0]: UDF_WORKER_DATA_FORMAT_UNSPECIFIED"));
        Assert.That(spec.Problems, Has.One.StartsWith("capabilities.supportedDataFormats: does not include ARROW"));
    }

    [Test]
    public void D31_missing_capabilities_are_rejected()
    {
        var proto = Specs.Direct(["w"]);
        proto.Capabilities = null;
        var problems = WorkerSpecification.FromProto(proto).Problems;
        Assert.That(problems, Has.Count.EqualTo(1));
        Assert.That(problems[0], Does.StartWith("capabilities: missing").And.Contain("ARROW").And.Contain("BIDIRECTIONAL_STREAMING"));
    }

    [Test]
    public void D29_verification_without_installation_is_rejected()
    {
        var proto = Specs.Direct(["w"]);
        proto.Environment = new WorkerEnvironment { EnvironmentVerification = Specs.Callable("sh", "verify.sh") };
        var problems = WorkerSpecification.FromProto(proto).Problems;
        Assert.That(problems, Has.Count.EqualTo(1));
        Assert.That(problems[0], Does.StartWith("environment.installation: missing, but environment.environmentVerification is given"));

        proto.Environment.Installation = Specs.Callable("sh", "install.sh");
        Assert.That(WorkerSpecification.FromProto(proto).Problems, Is.Empty);
    }

    [Test]
    public void Environment_steps_need_a_command()
    {
        var proto = Specs.Direct(["w"]);
        proto.Environment = new WorkerEnvironment
        {
            Installation = Specs.Callable(),
            EnvironmentVerification = Specs.Callable(""),
            EnvironmentCleanup = Specs.Callable(),
        };
        var problems = WorkerSpecification.FromProto(proto).Problems;
        Assert.That(problems, Is.EqualTo(new[]
        {
            "environment.installation.command: is empty. Give the executable and its leading arguments, e.g. [\"python3\", \"worker.py\"].",
            "environment.environmentVerification.command: is empty. Give the executable and its leading arguments, e.g. [\"python3\", \"worker.py\"].",
            "environment.environmentCleanup.command: is empty. Give the executable and its leading arguments, e.g. [\"python3\", \"worker.py\"].",
        }));
    }

    [Test]
    public void Bad_environment_variable_names_are_rejected()
    {
        var proto = Specs.Direct(["w"], environment: new Dictionary<string, string> { ["A=B"] = "1", ["OK"] = "2" });
        var problems = WorkerSpecification.FromProto(proto).Problems;
        Assert.That(problems, Has.Count.EqualTo(1));
        Assert.That(problems[0], Does.StartWith("direct.runner.environmentVariables[\"A=B\"]: is not a valid variable name"));
    }

    [TestCase(-1, null, "direct.properties.initializationTimeoutMs: -1 is not positive")]
    [TestCase(0, null, "direct.properties.initializationTimeoutMs: 0 is not positive")]
    [TestCase(null, -5, "direct.properties.gracefulTerminationTimeoutMs: -5 is negative")]
    public void Negative_timeouts_are_rejected(int? init, int? grace, string expected)
    {
        var problems = WorkerSpecification.FromProto(Specs.Direct(["w"], init, grace)).Problems;
        Assert.That(problems, Has.Count.EqualTo(1));
        Assert.That(problems[0], Does.StartWith(expected));
    }

    [Test]
    public void A_zero_grace_means_sigkill_at_once_and_is_accepted()
    {
        var spec = WorkerSpecification.FromProto(Specs.Direct(["w"], gracefulTerminationTimeoutMs: 0)).Validate();
        Assert.That(spec.GracefulTerminationTimeout, Is.EqualTo(TimeSpan.Zero));
    }

    [Test]
    public void D8_D9_timeouts_default_to_10_and_5_seconds()
    {
        var spec = WorkerSpecification.FromProto(Specs.Direct(["w"])).Validate();
        Assert.Multiple(() =>
        {
            Assert.That(spec.InitializationTimeout, Is.EqualTo(TimeSpan.FromSeconds(10)));
            Assert.That(spec.GracefulTerminationTimeout, Is.EqualTo(TimeSpan.FromSeconds(5)));
            Assert.That(spec.RequestedInitializationTimeout, Is.Null);
            Assert.That(spec.RequestedGracefulTerminationTimeout, Is.Null);
        });
    }

    [Test]
    public void D8_D9_timeouts_are_capped_at_30_seconds()
    {
        var spec = WorkerSpecification.FromProto(Specs.Direct(["w"], initializationTimeoutMs: 600_000, gracefulTerminationTimeoutMs: 600_000)).Validate();
        Assert.Multiple(() =>
        {
            Assert.That(spec.InitializationTimeout, Is.EqualTo(TimeSpan.FromSeconds(30)));
            Assert.That(spec.GracefulTerminationTimeout, Is.EqualTo(TimeSpan.FromSeconds(30)));
            Assert.That(spec.RequestedInitializationTimeout, Is.EqualTo(TimeSpan.FromMinutes(10)));
            Assert.That(spec.RequestedGracefulTerminationTimeout, Is.EqualTo(TimeSpan.FromMinutes(10)));
        });
    }

    [Test]
    public void D8_D9_caps_are_configurable_and_apply_to_defaults_too()
    {
        var options = new WorkerSpecificationOptions { MaxInitializationTimeout = TimeSpan.FromSeconds(2), MaxGracefulTerminationTimeout = TimeSpan.FromSeconds(1) };
        var unset = WorkerSpecification.FromProto(Specs.Direct(["w"]), options);
        var below = WorkerSpecification.FromProto(Specs.Direct(["w"], 1500, 700), options);
        Assert.Multiple(() =>
        {
            Assert.That(unset.InitializationTimeout, Is.EqualTo(TimeSpan.FromSeconds(2)));
            Assert.That(unset.GracefulTerminationTimeout, Is.EqualTo(TimeSpan.FromSeconds(1)));
            Assert.That(below.InitializationTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(1500)));
            Assert.That(below.GracefulTerminationTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(700)));
        });
    }

    [Test]
    public void Bad_caps_are_rejected_when_the_spec_is_created()
    {
        Assert.Throws<ArgumentException>(() => WorkerSpecification.FromProto(Specs.Direct(["w"]), new WorkerSpecificationOptions { MaxInitializationTimeout = TimeSpan.Zero }));
    }

    [Test]
    public void Typed_accessors_refuse_an_invalid_spec()
    {
        var proto = Specs.Direct(["w"]);
        proto.Direct.Properties.Connection = null;
        var spec = WorkerSpecification.FromProto(proto);
        Assert.Multiple(() =>
        {
            Assert.Throws<WorkerSpecificationException>(() => _ = spec.Runner);
            Assert.Throws<WorkerSpecificationException>(() => _ = spec.Transport);
            Assert.Throws<WorkerSpecificationException>(() => _ = spec.InitializationTimeout);
        });
    }

    [Test]
    public void FromProto_copies_the_message()
    {
        var proto = Specs.Direct(["w"]);
        var spec = WorkerSpecification.FromProto(proto);
        proto.Direct.Runner.Command[0] = "changed";
        proto.Direct.Properties.Connection = null;
        Assert.Multiple(() =>
        {
            Assert.That(spec.IsValid, Is.True);
            Assert.That(spec.Runner.Executable, Is.EqualTo("w"));
        });
    }

    [Test]
    public void ToJson_parses_back_to_the_same_spec()
    {
        var spec = WorkerSpecification.Parse(CamelCase);
        Assert.That(WorkerSpecification.Parse(spec.ToJson()).ToProto(), Is.EqualTo(spec.ToProto()));
    }
}
