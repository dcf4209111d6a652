using System.Security.Cryptography.X509Certificates;

namespace Engine.Client;

/// <summary>
/// TLS settings of the connections to <c>https://</c> worker addresses
/// (<see cref="WorkerConnectionOptions.Tls"/>): which certificate authorities to trust, which name the
/// worker's certificate must hold, and the client certificate for mutual TLS. Unused for
/// <c>unix://</c> and <c>http://</c> addresses, so one set of options serves a mixed fleet.
/// Every property defaults to <see langword="null"/>: the system's trust store, the address's host
/// name, no client certificate.
/// </summary>
/// <remarks>
/// Files are read when a <see cref="WorkerClient"/> is created (<see cref="WorkerClientOptions.Validate"/>
/// reads them too, to report a bad file at once); a client created later reads them again, so
/// rotated files reach new clients. The negotiated protocol is HTTP/2 (ALPN <c>h2</c>) over the
/// operating system's TLS versions (TLS 1.2 and 1.3 on current Linux). Revocation is not checked.
/// </remarks>
public sealed class WorkerTlsOptions
{
    /// <summary>
    /// A PEM file with one or more certificates (<c>-----BEGIN CERTIFICATE-----</c>): the
    /// certificate authorities that sign the workers' certificates. When this or
    /// <see cref="CaCertificates"/> is set, only these authorities are trusted (the system's trust
    /// store is not consulted). Default <see langword="null"/>: the system's trust store.
    /// </summary>
    public string? CaCertificateFile { get; set; }

    /// <summary>
    /// Certificate authorities to trust, in addition to those of <see cref="CaCertificateFile"/>,
    /// instead of the system's trust store. Default <see langword="null"/>.
    /// </summary>
    public X509Certificate2Collection? CaCertificates { get; set; }

    /// <summary>
    /// The name the worker's certificate must hold (as a DNS or IP subject alternative name), also
    /// sent as the TLS server name indication (SNI). Default <see langword="null"/>: the host of the
    /// address. Set it when workers are reached by an address their certificates do not name, such
    /// as a pod IP found through DNS while the certificate names the Service.
    /// </summary>
    public string? ServerName { get; set; }

    /// <summary>
    /// A PEM file with the client certificate for mutual TLS, first in the file. Its private key
    /// is read from <see cref="ClientKeyFile"/>, or from this same file when that is not set.
    /// At most one of this and <see cref="ClientCertificate"/>. Default <see langword="null"/>: no
    /// client certificate is offered.
    /// </summary>
    public string? ClientCertificateFile { get; set; }

    /// <summary>
    /// A PEM file with the private key of <see cref="ClientCertificateFile"/> (PKCS#8, RSA or EC,
    /// unencrypted). Default <see langword="null"/>: the key is in the certificate's file.
    /// </summary>
    public string? ClientKeyFile { get; set; }

    /// <summary>
    /// The client certificate for mutual TLS, with its private key. At most one of this and
    /// <see cref="ClientCertificateFile"/>. Default <see langword="null"/>.
    /// </summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>Whether any setting differs from the defaults.</summary>
    internal bool IsConfigured =>
        CaCertificateFile is not null || CaCertificates is not null || ServerName is not null
        || ClientCertificateFile is not null || ClientKeyFile is not null || ClientCertificate is not null;

    /// <summary>Checks the settings and reads the files; throws an <see cref="ArgumentException"/> naming the setting and the file.</summary>
    internal void Validate() => Engine.Client.Transport.TlsMaterial.Load(this);

    internal WorkerTlsOptions Clone() => (WorkerTlsOptions)MemberwiseClone();
}
