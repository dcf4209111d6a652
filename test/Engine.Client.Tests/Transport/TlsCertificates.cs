using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Engine.Client.Tests.Transport;

/// <summary>
/// Certificates made by the tests, written as PEM files in a fresh directory: a certificate
/// authority, a server certificate it signed for <c>localhost</c>, <c>127.0.0.1</c> and <c>::1</c>,
/// a client certificate it signed, and a second, unrelated authority with its own client
/// certificate. Deleted on dispose.
/// </summary>
internal sealed class TlsCertificates : IDisposable
{
    private TlsCertificates(string directory) => Directory = directory;

    public string Directory { get; }

    public string CaFile => Path.Combine(Directory, "ca.pem");

    public string ServerCertificateFile => Path.Combine(Directory, "server.pem");

    public string ServerKeyFile => Path.Combine(Directory, "server.key");

    public string ClientCertificateFile => Path.Combine(Directory, "client.pem");

    public string ClientKeyFile => Path.Combine(Directory, "client.key");

    /// <summary>An authority that signed nothing the worker presents.</summary>
    public string OtherCaFile => Path.Combine(Directory, "other-ca.pem");

    /// <summary>A client certificate signed by the other authority.</summary>
    public string OtherClientCertificateFile => Path.Combine(Directory, "other-client.pem");

    public string OtherClientKeyFile => Path.Combine(Directory, "other-client.key");

    public const string ClientSubject = "CN=engine-test-client";

    /// <summary>The worker's flags for TLS, and with <paramref name="requireClientCertificates"/> for mutual TLS.</summary>
    public string[] WorkerArguments(bool requireClientCertificates = false) => requireClientCertificates
        ? ["--tls-certificate", ServerCertificateFile, "--tls-key", ServerKeyFile, "--tls-client-ca", CaFile]
        : ["--tls-certificate", ServerCertificateFile, "--tls-key", ServerKeyFile];

    public static TlsCertificates Create()
    {
        var directory = Path.Combine(Path.GetTempPath(), "ec-tls-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(directory);
        var files = new TlsCertificates(directory);

        using var ca = CreateAuthority("CN=engine-test-ca");
        using var otherCa = CreateAuthority("CN=engine-other-ca");
        File.WriteAllText(files.CaFile, ca.ExportCertificatePem());
        File.WriteAllText(files.OtherCaFile, otherCa.ExportCertificatePem());

        using (var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            var request = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256);
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            names.AddIpAddress(IPAddress.IPv6Loopback);
            request.CertificateExtensions.Add(names.Build());
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
            using var server = Sign(request, ca);
            File.WriteAllText(files.ServerCertificateFile, server.ExportCertificatePem());
            File.WriteAllText(files.ServerKeyFile, serverKey.ExportPkcs8PrivateKeyPem());
        }

        WriteClient(ca, ClientSubject, files.ClientCertificateFile, files.ClientKeyFile);
        WriteClient(otherCa, "CN=engine-other-client", files.OtherClientCertificateFile, files.OtherClientKeyFile);
        return files;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }

    private static X509Certificate2 CreateAuthority(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-2), DateTimeOffset.UtcNow.AddDays(60));
    }

    private static void WriteClient(X509Certificate2 ca, string subject, string certificateFile, string keyFile)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var client = Sign(request, ca);
        File.WriteAllText(certificateFile, client.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
    }

    private static X509Certificate2 Sign(CertificateRequest request, X509Certificate2 ca)
    {
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7f;
        return request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), serial);
    }
}
