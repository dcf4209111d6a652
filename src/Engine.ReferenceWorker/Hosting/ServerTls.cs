using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Engine.ReferenceWorker.Hosting;

/// <summary>
/// The worker's TLS (<c>--tls-certificate</c>, <c>--tls-key</c>, <c>--tls-client-ca</c>): the server
/// certificate with its chain, and, for mutual TLS, the authorities a client certificate must chain to.
/// </summary>
internal sealed class ServerTls
{
    private ServerTls(X509Certificate2 certificate, X509Certificate2Collection chain, X509Certificate2Collection? clientRoots)
    {
        Certificate = certificate;
        Chain = chain;
        ClientRoots = clientRoots;
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>The certificates after the first in the certificate file: intermediates sent with it.</summary>
    public X509Certificate2Collection Chain { get; }

    /// <summary>When set, every client must present a certificate that chains to one of these.</summary>
    public X509Certificate2Collection? ClientRoots { get; }

    /// <summary>Reads the files; on failure <paramref name="error"/> names the flag, the file and the problem.</summary>
    public static ServerTls? Load(WorkerArguments arguments, out string? error)
    {
        error = null;
        if (arguments.TlsCertificateFile is not { } certificateFile)
        {
            return null;
        }

        var keyFile = arguments.TlsKeyFile ?? certificateFile;
        try
        {
            var certificate = X509Certificate2.CreateFromPemFile(certificateFile, arguments.TlsKeyFile);
            var all = new X509Certificate2Collection();
            all.ImportFromPemFile(certificateFile);
            var chain = new X509Certificate2Collection();
            for (var i = 1; i < all.Count; i++)
            {
                chain.Add(all[i]);
            }

            X509Certificate2Collection? clientRoots = null;
            if (arguments.TlsClientCaFile is { } clientCa)
            {
                clientRoots = [];
                clientRoots.ImportFromPemFile(clientCa);
                if (clientRoots.Count == 0)
                {
                    error = $"--tls-client-ca {clientCa} holds no PEM certificate";
                    return null;
                }
            }

            return new ServerTls(certificate, chain, clientRoots);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            error = $"cannot load the TLS certificate {certificateFile} with the key {keyFile}{(arguments.TlsClientCaFile is { } ca ? $" or the client CA {ca}" : string.Empty)}: {ex.Message}";
            return null;
        }
    }

    /// <summary>Kestrel's HTTPS settings: TLS with ALPN h2, and a required client certificate when <see cref="ClientRoots"/> is set.</summary>
    public HttpsConnectionAdapterOptions ToKestrel()
    {
        var options = new HttpsConnectionAdapterOptions
        {
            ServerCertificate = Certificate,
            ServerCertificateChain = Chain,
            CheckCertificateRevocation = false,
            ClientCertificateMode = ClientRoots is null ? ClientCertificateMode.NoCertificate : ClientCertificateMode.RequireCertificate,
        };
        if (ClientRoots is { } roots)
        {
            options.ClientCertificateValidation = (certificate, _, _) => ChainsTo(certificate, roots);
        }

        return options;
    }

    private static bool ChainsTo(X509Certificate2 certificate, X509Certificate2Collection roots)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2"));
        return chain.Build(certificate);
    }
}
