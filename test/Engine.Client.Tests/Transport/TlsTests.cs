using System.Text;
using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Transport;

/// <summary>
/// <c>https://</c> workers: real reference worker processes serving TLS and mutual TLS with
/// certificates the tests make; what a client that trusts the wrong authority, expects another
/// name, or offers no client certificate sees.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class TlsTests
{
    private TlsCertificates _certificates = null!;
    private ReferenceWorkerProcess _tls = null!;
    private ReferenceWorkerProcess _mtls = null!;

    [OneTimeSetUp]
    public async Task StartWorkers()
    {
        _certificates = TlsCertificates.Create();
        _tls = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions
        {
            UseTls = true,
            ExtraArguments = [.. _certificates.WorkerArguments(), "--echo-authorization"],
            ClientOptions = Trusting(),
        });
        _mtls = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions
        {
            UseTls = true,
            ExtraArguments = [.. _certificates.WorkerArguments(requireClientCertificates: true), "--echo-authorization"],
            ClientOptions = Trusting(withClientCertificate: true),
        });
    }

    [OneTimeTearDown]
    public async Task StopWorkers()
    {
        await _tls.DisposeAsync();
        await _mtls.DisposeAsync();
        _certificates.Dispose();
    }

    [Test]
    public async Task A_session_and_a_heartbeat_succeed_over_tls_with_the_authority_from_a_file()
    {
        await using var client = WorkerClient.Create(_tls.Address, Trusting());

        var heartbeat = await client.HeartbeatAsync().DefaultTimeout();
        var outcome = await RunEchoAsync(client);

        Assert.That(client.Address!.UsesTls, Is.True);
        Assert.That(heartbeat.Metrics["worker_id"], Is.EqualTo(_tls.Id));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
    }

    [Test]
    public async Task The_authority_may_be_given_as_certificates_and_the_worker_reached_by_its_dns_name()
    {
        var authorities = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        authorities.ImportFromPemFile(_certificates.CaFile);
        var options = new WorkerClientOptions { Connection = { Tls = { CaCertificates = authorities } } };
        await using var client = WorkerClient.Create($"https://localhost:{_tls.Port}", options);

        var heartbeat = await client.HeartbeatAsync().DefaultTimeout();

        Assert.That(heartbeat.Metrics["worker_id"], Is.EqualTo(_tls.Id));
    }

    [Test]
    public async Task A_session_and_a_heartbeat_succeed_over_mutual_tls_and_the_worker_sees_the_client_certificate()
    {
        await using var client = WorkerClient.Create(_mtls.Address, Trusting(withClientCertificate: true));

        var heartbeat = await client.HeartbeatAsync().DefaultTimeout();
        var outcome = await RunEchoAsync(client);

        Assert.That(heartbeat.Metrics["tls_client_certificate"], Is.EqualTo(TlsCertificates.ClientSubject));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
    }

    [Test]
    public async Task A_client_certificate_may_be_given_with_its_key_in_one_file()
    {
        var combined = Path.Combine(_certificates.Directory, "client-with-key.pem");
        await File.WriteAllTextAsync(combined, await File.ReadAllTextAsync(_certificates.ClientCertificateFile) + "\n" + await File.ReadAllTextAsync(_certificates.ClientKeyFile));
        var options = Trusting();
        options.Connection.Tls.ClientCertificateFile = combined;
        await using var client = WorkerClient.Create(_mtls.Address, options);

        var heartbeat = await client.HeartbeatAsync().DefaultTimeout();

        Assert.That(heartbeat.Metrics["tls_client_certificate"], Is.EqualTo(TlsCertificates.ClientSubject));
    }

    [Test]
    public async Task A_worker_certificate_from_another_authority_fails_saying_tls_and_untrusted()
    {
        var options = new WorkerClientOptions { Connection = { Tls = { CaCertificateFile = _certificates.OtherCaFile } } };
        await using var client = WorkerClient.Create(_tls.Address, options);

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync().DefaultTimeout())!;

        Assert.That(error.Reason, Is.EqualTo(TransportFailureReason.Unreachable), error.Message);
        Assert.That(error.Message, Does.Contain("TLS handshake with " + _tls.Address + " failed"));
        Assert.That(error.Message, Does.Contain("the worker's certificate is not trusted"));
        Assert.That(error.Message, Does.Contain("issuer 'CN=engine-test-ca'"));
        Assert.That(error.Message, Does.Contain(_certificates.OtherCaFile));
    }

    [Test]
    public async Task Without_an_authority_the_system_trust_store_is_used_and_the_error_says_to_give_one()
    {
        await using var client = WorkerClient.Create(_tls.Address);

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync().DefaultTimeout())!;

        Assert.That(error.Message, Does.Contain("the worker's certificate is not trusted"));
        Assert.That(error.Message, Does.Contain("system's trust store"));
        Assert.That(error.Message, Does.Contain("CaCertificateFile"));
    }

    [Test]
    public async Task A_server_name_the_certificate_does_not_hold_fails_naming_it()
    {
        var options = Trusting();
        options.Connection.Tls.ServerName = "udf-workers.example";
        await using var client = WorkerClient.Create(_tls.Address, options);

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync().DefaultTimeout())!;

        Assert.That(error.Reason, Is.EqualTo(TransportFailureReason.Unreachable), error.Message);
        Assert.That(error.Message, Does.Contain("TLS handshake"));
        Assert.That(error.Message, Does.Contain("does not hold the name 'udf-workers.example'"));
        Assert.That(error.Message, Does.Contain("names localhost, 127.0.0.1"));
    }

    [Test]
    public async Task A_server_name_override_is_what_the_certificate_is_checked_against()
    {
        // The address's host (127.0.0.1) is in the certificate too; "localhost" proves the override is used.
        var options = Trusting();
        options.Connection.Tls.ServerName = "localhost";
        await using var client = WorkerClient.Create(_tls.Address, options);

        var heartbeat = await client.HeartbeatAsync().DefaultTimeout();

        Assert.That(heartbeat.Metrics["worker_id"], Is.EqualTo(_tls.Id));
    }

    [Test]
    public async Task Mutual_tls_without_a_client_certificate_fails_saying_one_is_required()
    {
        await using var client = WorkerClient.Create(_mtls.Address, Trusting());

        var heartbeat = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync().DefaultTimeout())!;
        var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts());
        await session.InitAsync(new SessionInit(ReadOnlyMemory<byte>.Empty, "echo")).ContinueWith(static _ => { }, TaskScheduler.Default).DefaultTimeout();
        var outcome = await session.CloseAsync().DefaultTimeout();

        Assert.That(heartbeat.Reason, Is.EqualTo(TransportFailureReason.Unreachable), heartbeat.Message);
        Assert.That(heartbeat.Message, Does.Contain("TLS"));
        Assert.That(heartbeat.Message, Does.Contain("requires a client certificate (mutual TLS) and none is configured"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.TransportFailed));
        Assert.That(outcome.Exception!.Message, Does.Contain("requires a client certificate (mutual TLS)"));
    }

    [Test]
    public async Task Mutual_tls_with_a_client_certificate_from_another_authority_fails_saying_it_was_refused()
    {
        var options = Trusting();
        options.Connection.Tls.ClientCertificateFile = _certificates.OtherClientCertificateFile;
        options.Connection.Tls.ClientKeyFile = _certificates.OtherClientKeyFile;
        await using var client = WorkerClient.Create(_mtls.Address, options);

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync().DefaultTimeout())!;

        Assert.That(error.Reason, Is.EqualTo(TransportFailureReason.Unreachable), error.Message);
        Assert.That(error.Message, Does.Contain("TLS"));
        Assert.That(error.Message, Does.Contain("refused").And.Contain(_certificates.OtherClientCertificateFile));
    }

    [Test]
    public async Task An_https_address_of_a_worker_without_tls_fails_saying_it_did_not_answer_as_a_tls_server()
    {
        await using var plain = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions { UseTcp = true });
        await using var client = WorkerClient.Create($"https://127.0.0.1:{plain.Port}", Trusting());

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync().DefaultTimeout())!;

        Assert.That(error.Message, Does.Contain("TLS handshake"));
        Assert.That(error.Message, Does.Contain("did not answer as a TLS server"));
        Assert.That(error.Message, Does.Contain("http://"));
    }

    [Test]
    public async Task The_token_reaches_the_worker_and_a_refreshed_token_file_is_used_by_the_next_call()
    {
        var tokenFile = Path.Combine(_certificates.Directory, "token-" + Guid.NewGuid().ToString("N")[..6]);
        await File.WriteAllTextAsync(tokenFile, "first-token\n");
        var options = Trusting();
        options.Connection.TokenProvider = WorkerTokenProvider.FromFile(tokenFile);
        await using var client = WorkerClient.Create(_tls.Address, options);

        var first = await client.HeartbeatAsync().DefaultTimeout();
        await File.WriteAllTextAsync(tokenFile, "the-refreshed-token");
        var second = await client.HeartbeatAsync().DefaultTimeout();
        var outcome = await RunEchoAsync(client);

        Assert.That(first.Metrics["authorization"], Is.EqualTo("Bearer first-token"));
        Assert.That(second.Metrics["authorization"], Is.EqualTo("Bearer the-refreshed-token"));
        Assert.That(outcome.Kind, Is.EqualTo(SessionOutcomeKind.Finished), outcome.ToString());
    }

    [Test]
    public async Task A_token_with_an_expiry_is_reused_until_shortly_before_it_and_one_without_is_asked_for_each_call()
    {
        var calls = 0;
        var lasting = WorkerTokenProvider.Create(_ => ValueTask.FromResult(new WorkerAccessToken("lasting-" + Interlocked.Increment(ref calls), DateTimeOffset.UtcNow.AddHours(1))));
        var expiring = 0;
        var shortLived = WorkerTokenProvider.Create(_ => ValueTask.FromResult(new WorkerAccessToken("short-" + Interlocked.Increment(ref expiring), DateTimeOffset.UtcNow.AddSeconds(10))));
        var unknown = 0;
        var noExpiry = WorkerTokenProvider.Create(_ => ValueTask.FromResult(new WorkerAccessToken("plain-" + Interlocked.Increment(ref unknown))));

        var seen = new Dictionary<string, List<string>>();
        foreach (var (name, provider) in new[] { ("lasting", lasting), ("short", shortLived), ("plain", noExpiry) })
        {
            var options = Trusting();
            options.Connection.TokenProvider = provider;
            await using var client = WorkerClient.Create(_tls.Address, options);
            seen[name] = [];
            for (var i = 0; i < 3; i++)
            {
                seen[name].Add((await client.HeartbeatAsync().DefaultTimeout()).Metrics["authorization"]);
            }
        }

        Assert.That(seen["lasting"], Is.EqualTo(new[] { "Bearer lasting-1", "Bearer lasting-1", "Bearer lasting-1" }));
        Assert.That(seen["short"], Is.EqualTo(new[] { "Bearer short-1", "Bearer short-2", "Bearer short-3" }), "a token expiring within the refresh margin is replaced");
        Assert.That(seen["plain"], Is.EqualTo(new[] { "Bearer plain-1", "Bearer plain-2", "Bearer plain-3" }));
    }

    [Test]
    public async Task A_failing_token_provider_fails_the_call_with_its_message()
    {
        var options = Trusting();
        options.Connection.TokenProvider = WorkerTokenProvider.FromFile(Path.Combine(_certificates.Directory, "no-such-token"));
        await using var client = WorkerClient.Create(_tls.Address, options);

        var error = Assert.ThrowsAsync<WorkerTransportException>(() => client.HeartbeatAsync().DefaultTimeout())!;

        Assert.That(error.Message, Does.Contain("bearer token").And.Contain("no-such-token").And.Contain("does not exist"));
    }

    private WorkerClientOptions Trusting(bool withClientCertificate = false)
    {
        var options = new WorkerClientOptions { Connection = { Tls = { CaCertificateFile = _certificates.CaFile } } };
        if (withClientCertificate)
        {
            options.Connection.Tls.ClientCertificateFile = _certificates.ClientCertificateFile;
            options.Connection.Tls.ClientKeyFile = _certificates.ClientKeyFile;
        }

        return options;
    }

    private static async Task<SessionOutcome> RunEchoAsync(WorkerClient client)
    {
        await using var session = await client.OpenSessionAsync(TaskTimeouts.HugeTimeouts()).DefaultTimeout();
        await session.InitAsync(new SessionInit(ReadOnlyMemory<byte>.Empty, "echo")).DefaultTimeout();
        var output = await session.ProcessAsync(Batches()).ToListAsync();
        Assert.That(output.Select(b => Encoding.UTF8.GetString(b.Span)), Is.EqualTo(new[] { "one", "two" }));
        return await session.CloseAsync().DefaultTimeout();
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Batches()
    {
        await Task.Yield();
        yield return Encoding.UTF8.GetBytes("one");
        yield return Encoding.UTF8.GetBytes("two");
    }
}
