using Engine.Client.Tests.Infrastructure;
using Engine.Client.Tests.ReferenceWorker;
using Microsoft.Extensions.Logging;

namespace Engine.Client.Tests.Transport;

/// <summary>
/// TLS settings checked when a client is created (files named in the errors), which addresses
/// count as local, and the warning for plain http to another host.
/// </summary>
public sealed class TlsOptionsTests
{
    [TestCase("https://w.example:7070", true, false)]
    [TestCase("http://w.example:7070", false, false)]
    [TestCase("http://10.0.0.7:7070", false, false)]
    [TestCase("http://127.0.0.1:7070", false, true)]
    [TestCase("http://127.0.0.9:7070", false, true)]
    [TestCase("http://[::1]:7070", false, true)]
    [TestCase("http://localhost:7070", false, true)]
    [TestCase("https://localhost:7070", true, true)]
    [TestCase("unix:///tmp/w.sock", false, true)]
    public void Addresses_say_whether_they_use_tls_and_stay_on_this_machine(string text, bool tls, bool local)
    {
        var address = WorkerAddress.Parse(text);

        Assert.That(address.UsesTls, Is.EqualTo(tls));
        Assert.That(address.IsLocal, Is.EqualTo(local));
        Assert.That(WorkerAddress.ForTcp("h", 1, useTls: true).ToString(), Is.EqualTo("https://h:1"));
    }

    [Test]
    public void A_missing_ca_file_is_named_with_its_setting_and_what_to_give()
    {
        var options = new WorkerClientOptions { Connection = { Tls = { CaCertificateFile = "/nonexistent/ca.pem" } } };

        var error = Assert.Throws<ArgumentException>(() => WorkerClient.Create("https://w.example:7070", options))!;

        Assert.That(error.Message, Does.Contain("WorkerConnectionOptions.Tls.CaCertificateFile"));
        Assert.That(error.Message, Does.Contain("/nonexistent/ca.pem does not exist"));
        Assert.That(error.Message, Does.Contain("certificate authority"));
    }

    [Test]
    public void A_ca_file_without_certificates_and_a_client_certificate_without_a_key_are_rejected_naming_the_file()
    {
        using var certificates = TlsCertificates.Create();
        var empty = Path.Combine(certificates.Directory, "empty.pem");
        File.WriteAllText(empty, "not a certificate\n");

        var noCertificates = Assert.Throws<ArgumentException>(() => new WorkerClientOptions { Connection = { Tls = { CaCertificateFile = empty } } }.Validate())!;
        var noKey = Assert.Throws<ArgumentException>(() => new WorkerClientOptions { Connection = { Tls = { ClientCertificateFile = certificates.ClientCertificateFile } } }.Validate())!;
        var keyOnly = Assert.Throws<ArgumentException>(() => new WorkerClientOptions { Connection = { Tls = { ClientKeyFile = certificates.ClientKeyFile } } }.Validate())!;
        var wrongKey = Assert.Throws<ArgumentException>(() => new WorkerClientOptions
        {
            Connection = { Tls = { ClientCertificateFile = certificates.ClientCertificateFile, ClientKeyFile = certificates.ServerKeyFile } },
        }.Validate())!;

        Assert.That(noCertificates.Message, Does.Contain(empty).And.Contain("holds no certificate"));
        Assert.That(noKey.Message, Does.Contain(certificates.ClientCertificateFile).And.Contain("holds no private key").And.Contain("ClientKeyFile"));
        Assert.That(keyOnly.Message, Does.Contain("ClientKeyFile is set without").And.Contain("ClientCertificateFile"));
        Assert.That(wrongKey.Message, Does.Contain(certificates.ServerKeyFile).And.Contain("matching"));
    }

    [Test]
    public void Tls_settings_are_copied_when_the_client_is_created()
    {
        var options = new WorkerClientOptions { Connection = { Tls = { ServerName = "first.example" } } };
        using var client = WorkerClient.Create("https://w.example:7070", options);

        options.Connection.Tls.ServerName = "second.example";

        Assert.That(client.Options.Connection.Tls.ServerName, Is.EqualTo("first.example"));
        Assert.That(client.Options.Connection.Tls, Is.Not.SameAs(options.Connection.Tls));
    }

    [Test]
    public async Task Plain_http_to_another_host_is_logged_once_per_client_and_local_or_tls_addresses_are_not()
    {
        // The machine's own name is not "localhost" and is not resolved to decide: it counts as
        // another host, and a worker listening on every interface answers there.
        await using var worker = await ReferenceWorkerProcess.StartAsync(new ReferenceWorkerStartOptions
        {
            UseTcp = true,
            ExtraArguments = ["--listen-address", "0.0.0.0"],
        });
        var remote = $"http://{System.Net.Dns.GetHostName()}:{worker.Port}";
        var logs = new LogCapture();
        var options = new WorkerClientOptions { LoggerFactory = logs.Factory, Connection = { TokenProvider = WorkerTokenProvider.Create(_ => ValueTask.FromResult(new WorkerAccessToken("t"))) } };

        await using (var client = WorkerClient.Create(remote, options))
        {
            await client.HeartbeatAsync().DefaultTimeout();
            await client.HeartbeatAsync().DefaultTimeout();
        }

        await using (var local = WorkerClient.Create(worker.Address, options))
        {
            await local.HeartbeatAsync().DefaultTimeout();
        }

        using (WorkerClient.Create("https://workers.example:7070", options))
        using (WorkerClient.Create("unix:///tmp/none.sock", options))
        {
        }

        var warnings = logs.Entries.Where(e => e.EventId.Id == 380).ToList();
        Assert.That(warnings, Has.Count.EqualTo(1), string.Join("; ", warnings.Select(w => w.Message)));
        Assert.That(warnings[0].Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(warnings[0].Message, Does.Contain(remote).And.Contain("plain http").And.Contain("bearer tokens travel in the clear"));

        using (WorkerClient.Create(remote, options))
        {
        }

        Assert.That(logs.Entries.Count(e => e.EventId.Id == 380), Is.EqualTo(2), "each client warns once");
    }

    [Test]
    public async Task A_token_file_rewritten_with_the_same_size_within_one_write_time_tick_is_read_again()
    {
        var directory = Directory.CreateTempSubdirectory("token-file-");
        try
        {
            var path = Path.Combine(directory.FullName, "token");
            File.WriteAllText(path, "aaaa\n");
            var tick = File.GetLastWriteTimeUtc(path);
            var provider = WorkerTokenProvider.FromFile(path);
            Assert.That(await provider.GetTokenAsync(TimeProvider.System, CancellationToken.None).AsTask().DefaultTimeout(), Is.EqualTo("aaaa"));

            // Same size, and the same write time, as a coarse file-system clock would record it.
            File.WriteAllText(path, "bbbb\n");
            File.SetLastWriteTimeUtc(path, tick);
            Assert.That(await provider.GetTokenAsync(TimeProvider.System, CancellationToken.None).AsTask().DefaultTimeout(), Is.EqualTo("bbbb"));

            // A file last written long ago is trusted by its stamp; a rewrite changes the stamp.
            File.SetLastWriteTimeUtc(path, tick - TimeSpan.FromHours(1));
            Assert.That(await provider.GetTokenAsync(TimeProvider.System, CancellationToken.None).AsTask().DefaultTimeout(), Is.EqualTo("bbbb"));
            File.WriteAllText(path, "cccc\n");
            Assert.That(await provider.GetTokenAsync(TimeProvider.System, CancellationToken.None).AsTask().DefaultTimeout(), Is.EqualTo("cccc"));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
