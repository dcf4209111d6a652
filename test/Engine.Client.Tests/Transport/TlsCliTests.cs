using System.Text.Json;
using Engine.Client.Tests.Cli;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Transport;

/// <summary><c>engine-client run</c>, <c>heartbeat</c> and <c>shutdown</c> against a reference worker serving mutual TLS.</summary>
[TestFixture]
[NonParallelizable]
public sealed class TlsCliTests
{
    private TlsCertificates _certificates = null!;
    private ReferenceWorkerProcess _worker = null!;

    [OneTimeSetUp]
    public async Task StartWorker()
    {
        _certificates = TlsCertificates.Create();
        _worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions
        {
            UseTls = true,
            ExtraArguments = [.. _certificates.WorkerArguments(requireClientCertificates: true), "--echo-authorization"],
            ClientOptions = new WorkerClientOptions
            {
                Connection = { Tls = { CaCertificateFile = _certificates.CaFile, ClientCertificateFile = _certificates.ClientCertificateFile, ClientKeyFile = _certificates.ClientKeyFile } },
            },
        });
    }

    [OneTimeTearDown]
    public async Task StopWorker()
    {
        await _worker.DisposeAsync();
        _certificates.Dispose();
    }

    [Test]
    public async Task Heartbeat_over_mutual_tls_sends_the_token_of_the_token_file()
    {
        var token = Path.Combine(_certificates.Directory, "cli-token");
        await File.WriteAllTextAsync(token, "cli-secret\n");

        var result = await CliProcess.RunAsync([.. Credentials(), "--token-file", token, "--json"]);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        var metrics = json.RootElement.GetProperty("metrics");
        Assert.That(metrics.GetProperty("authorization").GetString(), Is.EqualTo("Bearer cli-secret"));
        Assert.That(metrics.GetProperty("tls_client_certificate").GetString(), Is.EqualTo(TlsCertificates.ClientSubject));
    }

    [Test]
    public async Task Heartbeat_sends_the_token_of_an_environment_variable()
    {
        const string Variable = "ENGINE_CLIENT_TEST_TOKEN_7F3A";
        Environment.SetEnvironmentVariable(Variable, "from-the-environment");
        try
        {
            var result = await CliProcess.RunAsync([.. Credentials(), "--token-env", Variable, "--json"]);

            Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
            using var json = JsonDocument.Parse(result.Stdout);
            Assert.That(json.RootElement.GetProperty("metrics").GetProperty("authorization").GetString(), Is.EqualTo("Bearer from-the-environment"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(Variable, null);
        }
    }

    [Test]
    public async Task Run_over_mutual_tls_finishes()
    {
        var result = await CliProcess.RunAsync(
            "run", "--worker", _worker.Address, "--format", "builtin", "--payload", "generate 3000 batch 1000", "--json", "--no-progress",
            "--ca-file", _certificates.CaFile, "--client-cert", _certificates.ClientCertificateFile, "--client-key", _certificates.ClientKeyFile,
            "--server-name", "localhost");

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.That(json.RootElement.GetProperty("outcome").GetString(), Is.EqualTo("finished"));
        Assert.That(json.RootElement.GetProperty("received").GetProperty("rows").GetInt64(), Is.EqualTo(3000), result.Stdout);
    }

    [Test]
    public async Task Heartbeat_without_the_client_certificate_exits_3_saying_the_worker_requires_one()
    {
        var result = await CliProcess.RunAsync("heartbeat", "--worker", _worker.Address, "--ca-file", _certificates.CaFile);

        Assert.That(result.ExitCode, Is.EqualTo(3), result.ToString());
        Assert.That(result.Stdout + result.Stderr, Does.Contain("requires a client certificate (mutual TLS)").And.Contain("--client-cert"));
    }

    [Test]
    public async Task A_missing_ca_file_and_a_key_without_its_certificate_are_usage_errors_naming_the_option()
    {
        var missing = await CliProcess.RunAsync("heartbeat", "--worker", _worker.Address, "--ca-file", "/nonexistent/ca.pem");
        var keyOnly = await CliProcess.RunAsync("shutdown", "--worker", _worker.Address, "--client-key", _certificates.ClientKeyFile);
        var noCertificate = await CliProcess.RunAsync("heartbeat", "--worker", _worker.Address, "--ca-file", _certificates.ClientKeyFile);

        Assert.That(missing.ExitCode, Is.EqualTo(2), missing.ToString());
        Assert.That(missing.Stderr, Does.Contain("--ca-file /nonexistent/ca.pem: the file does not exist"));
        Assert.That(keyOnly.ExitCode, Is.EqualTo(2), keyOnly.ToString());
        Assert.That(keyOnly.Stderr, Does.Contain("--client-key is given without --client-cert"));
        Assert.That(noCertificate.ExitCode, Is.EqualTo(2), noCertificate.ToString());
        Assert.That(noCertificate.Stderr, Does.Contain("--ca-file").And.Contain("holds no certificate"));
    }

    private string[] Credentials() =>
    [
        "heartbeat", "--worker", _worker.Address,
        "--ca-file", _certificates.CaFile, "--client-cert", _certificates.ClientCertificateFile, "--client-key", _certificates.ClientKeyFile,
    ];
}
