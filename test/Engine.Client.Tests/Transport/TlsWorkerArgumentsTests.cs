using Engine.Client.Tests.ReferenceWorker;

namespace Engine.Client.Tests.Transport;

/// <summary>The reference worker's TLS and listening flags: what it refuses, and what it says about a bad file.</summary>
public sealed class TlsWorkerArgumentsTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [TestCase("--tls-key", "--tls-key needs --tls-certificate")]
    [TestCase("--tls-client-ca", "--tls-client-ca needs --tls-certificate")]
    public async Task A_key_or_client_ca_without_a_certificate_is_a_usage_error(string flag, string message)
    {
        var (exit, _, stderr) = await ReferenceWorkerProcess.RunToExitAsync(["--id", "a", "--connection", "7999", flag, "/tmp/x.pem"], Bound);

        Assert.That(exit, Is.EqualTo(2), stderr);
        Assert.That(stderr, Does.Contain(message));
    }

    [TestCase("--tls-certificate", "/tmp/cert.pem", "--tls-certificate needs a TCP port")]
    [TestCase("--listen-address", "0.0.0.0", "--listen-address needs a TCP port")]
    public async Task Tls_and_a_listen_address_need_a_tcp_port(string flag, string value, string message)
    {
        var (exit, _, stderr) = await ReferenceWorkerProcess.RunToExitAsync(["--id", "a", "--connection", "/tmp/ec-none/w.sock", flag, value], Bound);

        Assert.That(exit, Is.EqualTo(2), stderr);
        Assert.That(stderr, Does.Contain(message));
    }

    [Test]
    public async Task A_listen_address_that_is_not_an_ip_is_a_usage_error()
    {
        var (exit, _, stderr) = await ReferenceWorkerProcess.RunToExitAsync(["--id", "a", "--connection", "7999", "--listen-address", "everywhere"], Bound);

        Assert.That(exit, Is.EqualTo(2), stderr);
        Assert.That(stderr, Does.Contain("--listen-address 'everywhere' is not an IP address"));
    }

    [Test]
    public async Task A_certificate_file_that_does_not_exist_stops_the_worker_naming_it()
    {
        var (exit, _, stderr) = await ReferenceWorkerProcess.RunToExitAsync(["--id", "a", "--connection", "7999", "--tls-certificate", "/nonexistent/server.pem"], Bound);

        Assert.That(exit, Is.EqualTo(1), stderr);
        Assert.That(stderr, Does.Contain("cannot load the TLS certificate /nonexistent/server.pem"));
    }
}
