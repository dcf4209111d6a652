using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Engine.Client.Transport;

/// <summary>
/// <see cref="WorkerTlsOptions"/> read and checked: the trusted roots, the expected server name,
/// the client certificate. Loaded once per client.
/// </summary>
internal sealed class TlsMaterial
{
    private TlsMaterial(X509Certificate2Collection? roots, string? rootsSource, string? serverName, X509Certificate2? clientCertificate, string? clientSource)
    {
        Roots = roots;
        RootsSource = rootsSource;
        ServerName = serverName;
        ClientCertificate = clientCertificate;
        ClientCertificateSource = clientSource;
    }

    /// <summary>The only trusted authorities, or <see langword="null"/> for the system's trust store.</summary>
    public X509Certificate2Collection? Roots { get; }

    /// <summary>Where <see cref="Roots"/> came from, for messages.</summary>
    public string? RootsSource { get; }

    /// <summary>The name the worker's certificate must hold; <see langword="null"/> for the address's host.</summary>
    public string? ServerName { get; }

    /// <summary>The client certificate with its private key, or <see langword="null"/>.</summary>
    public X509Certificate2? ClientCertificate { get; }

    /// <summary>Where <see cref="ClientCertificate"/> came from, for messages.</summary>
    public string? ClientCertificateSource { get; }

    /// <summary>Reads and checks <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentException">A setting is inconsistent or a file is missing, unreadable or holds no usable certificate or key; the message names the setting, the file and what to do.</exception>
    public static TlsMaterial Load(WorkerTlsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string Prefix = "WorkerConnectionOptions.Tls.";

        X509Certificate2Collection? roots = null;
        string? rootsSource = null;
        if (options.CaCertificateFile is { } caFile)
        {
            var setting = Prefix + nameof(WorkerTlsOptions.CaCertificateFile);
            var text = ReadText(caFile, setting, "the PEM file of the certificate authority (or authorities) that signed the workers' certificates");
            roots = [];
            try
            {
                roots.ImportFromPem(text);
            }
            catch (CryptographicException ex)
            {
                throw new ArgumentException($"{setting}: the file {caFile} is not a readable PEM certificate file ({ex.Message}). Give a PEM file with one or more -----BEGIN CERTIFICATE----- blocks.", ex);
            }

            if (roots.Count == 0)
            {
                throw new ArgumentException($"{setting}: the file {caFile} holds no certificate (no -----BEGIN CERTIFICATE----- block). Give the PEM file of the certificate authority that signed the workers' certificates.");
            }

            rootsSource = caFile;
        }

        if (options.CaCertificates is { } extra)
        {
            roots ??= [];
            roots.AddRange(extra);
            rootsSource = rootsSource is null ? $"{Prefix}{nameof(WorkerTlsOptions.CaCertificates)}" : $"{rootsSource} and {Prefix}{nameof(WorkerTlsOptions.CaCertificates)}";
            if (roots.Count == 0)
            {
                throw new ArgumentException($"{Prefix}{nameof(WorkerTlsOptions.CaCertificates)} is empty: no worker certificate could be trusted. Add the certificate authority that signed the workers' certificates, or leave it null for the system's trust store.");
            }
        }

        if (options.ServerName is { } name && (string.IsNullOrWhiteSpace(name) || name.Any(char.IsWhiteSpace)))
        {
            throw new ArgumentException($"{Prefix}{nameof(WorkerTlsOptions.ServerName)} '{name}' is not a host name: give the DNS name or IP address the workers' certificates hold, or null for the address's host.");
        }

        var client = LoadClientCertificate(options, Prefix, out var clientSource);
        return new TlsMaterial(roots, rootsSource, options.ServerName, client, clientSource);
    }

    private static X509Certificate2? LoadClientCertificate(WorkerTlsOptions options, string prefix, out string? source)
    {
        source = null;
        var certSetting = prefix + nameof(WorkerTlsOptions.ClientCertificateFile);
        var keySetting = prefix + nameof(WorkerTlsOptions.ClientKeyFile);
        if (options.ClientCertificate is { } given)
        {
            if (options.ClientCertificateFile is not null || options.ClientKeyFile is not null)
            {
                throw new ArgumentException($"{prefix}{nameof(WorkerTlsOptions.ClientCertificate)} and {certSetting}/{nameof(WorkerTlsOptions.ClientKeyFile)} are both set; give the client certificate one way.");
            }

            if (!given.HasPrivateKey)
            {
                throw new ArgumentException($"{prefix}{nameof(WorkerTlsOptions.ClientCertificate)} ({given.Subject}) has no private key: mutual TLS needs the certificate with its key (for example X509Certificate2.CreateFromPemFile(certFile, keyFile)).");
            }

            source = given.Subject;
            return given;
        }

        if (options.ClientCertificateFile is not { } certFile)
        {
            if (options.ClientKeyFile is not null)
            {
                throw new ArgumentException($"{keySetting} is set without {certSetting}: give the client certificate's PEM file too.");
            }

            return null;
        }

        var certText = ReadText(certFile, certSetting, "the PEM file of the client certificate");
        var keyFile = options.ClientKeyFile;
        var keyText = keyFile is null ? certText : ReadText(keyFile, keySetting, "the PEM file of the client certificate's private key");
        if (!certText.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
        {
            throw new ArgumentException($"{certSetting}: the file {certFile} holds no certificate (no -----BEGIN CERTIFICATE----- block). Give the client certificate in PEM.");
        }

        if (!keyText.Contains("PRIVATE KEY-----", StringComparison.Ordinal))
        {
            throw new ArgumentException(keyFile is null
                ? $"{certSetting}: the file {certFile} holds no private key, and {keySetting} is not set. Give the key's PEM file in {keySetting}, or append the key to the certificate's file."
                : $"{keySetting}: the file {keyFile} holds no private key (no -----BEGIN ... PRIVATE KEY----- block). Give the client certificate's unencrypted PEM key.");
        }

        try
        {
            var certificate = X509Certificate2.CreateFromPem(certText, keyText);
            source = keyFile is null ? certFile : $"{certFile} with the key {keyFile}";
            return certificate;
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new ArgumentException($"{certSetting}: cannot use the certificate of {certFile} with the key of {keyFile ?? certFile}: {ex.Message} Give a PEM certificate and its matching unencrypted PEM private key (PKCS#8, RSA or EC).", ex);
        }
    }

    private static string ReadText(string path, string setting, string what)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new ArgumentException($"{setting} is empty; give {what}.");
        }

        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ArgumentException($"{setting}: the file {path} does not exist. Give {what}.", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new ArgumentException($"{setting}: the file {path} cannot be read (permission denied). Make it readable by this process (user {Environment.UserName}), or give another copy.", ex);
        }
        catch (IOException ex)
        {
            throw new ArgumentException($"{setting}: the file {path} cannot be read: {ex.Message} Give {what}.", ex);
        }
    }
}
