using System.Globalization;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Engine.Client.Transport;

/// <summary>
/// The TLS handshake of a connection to an <c>https://</c> worker, done in the connect callback so
/// that its failures say what went wrong (an untrusted certificate, a name the certificate does not
/// hold, a client certificate the worker requires or refuses, a worker not speaking TLS) as a
/// <see cref="WorkerUnreachableException"/> whose message starts with "TLS".
/// </summary>
internal static class TlsConnector
{
    /// <summary>Authenticates <paramref name="transport"/> as the client; the returned stream owns it.</summary>
    public static async ValueTask<Stream> AuthenticateAsync(Stream transport, string host, int port, TlsMaterial tls, CancellationToken cancellationToken)
    {
        var where = string.Create(CultureInfo.InvariantCulture, $"https://{(host.Contains(':', StringComparison.Ordinal) ? "[" + host + "]" : host)}:{port}");
        var targetHost = tls.ServerName ?? host;
        var handshake = new Handshake(where, targetHost, tls);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            ApplicationProtocols = [SslApplicationProtocol.Http2],
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = handshake.Validate,
            LocalCertificateSelectionCallback = handshake.SelectClientCertificate,
        };
        if (tls.Roots is { } roots)
        {
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.AddRange(roots);
            options.CertificateChainPolicy = policy;
        }

        var ssl = new WorkerSslStream(transport, handshake);
        try
        {
            await ssl.AuthenticateAsClientAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException && ex is not WorkerUnreachableException && !cancellationToken.IsCancellationRequested)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new WorkerUnreachableException(where, handshake.DescribeFailure(ex), ex);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        if (ssl.NegotiatedApplicationProtocol != SslApplicationProtocol.Http2)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new WorkerUnreachableException(
                where,
                $"TLS with {where} was established but the worker did not agree to HTTP/2 (ALPN h2): a gRPC worker must offer h2 over TLS.");
        }

        if (handshake.ClientCertificateRequested)
        {
            try
            {
                await ssl.ConfirmAcceptedAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await ssl.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        return ssl;
    }

    /// <summary>What one handshake saw, to explain its failure.</summary>
    private sealed class Handshake(string where, string targetHost, TlsMaterial tls)
    {
        /// <summary>The worker's address, for errors.</summary>
        public string Where => where;

        private SslPolicyErrors _errors;
        private string? _chainStatus;
        private string? _certificate;

        /// <summary>Whether the worker asked for a client certificate (mutual TLS).</summary>
        public bool ClientCertificateRequested { get; private set; }

        public bool HasClientCertificate => tls.ClientCertificate is not null;

        public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            _errors = errors;
            if (certificate is not null)
            {
                _certificate = Summarize(certificate);
            }

            if (chain is not null && (errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
            {
                _chainStatus = string.Join(", ", chain.ChainStatus
                    .Where(static s => s.Status != X509ChainStatusFlags.NoError)
                    .Select(static s => s.Status.ToString())
                    .Distinct(StringComparer.Ordinal));
            }

            return errors == SslPolicyErrors.None;
        }

        public X509Certificate2? SelectClientCertificate(object sender, string host, X509CertificateCollection local, X509Certificate? remote, string[] acceptableIssuers)
        {
            // Called once before the handshake with no remote certificate yet (on Linux), and when
            // the worker requests a certificate: answering only the request tells the two apart.
            if (remote is null)
            {
                return null;
            }

            ClientCertificateRequested = true;
            return tls.ClientCertificate;
        }

        public string DescribeFailure(Exception exception)
        {
            var detail = Innermost(exception);
            var prefix = $"TLS handshake with {where} failed: ";
            if ((_errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
            {
                return prefix + "the worker sent no certificate.";
            }

            if ((_errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
            {
                var trust = tls.Roots is null
                    ? "It is checked against the system's trust store: give the certificate authority that signed it in WorkerConnectionOptions.Tls.CaCertificateFile (CLI --ca-file)."
                    : $"It is not signed by a certificate authority of {tls.RootsSource} ({tls.Roots.Count.ToString(CultureInfo.InvariantCulture)} trusted): give the authority that signed the worker's certificate.";
                var name = (_errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0 ? $" It does not hold the name '{targetHost}' either." : string.Empty;
                return prefix + $"the worker's certificate is not trusted ({_chainStatus}): {_certificate}. {trust}{name}";
            }

            if ((_errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            {
                var how = tls.ServerName is null
                    ? "Reach the worker by a name its certificate holds, or set the name to expect in WorkerConnectionOptions.Tls.ServerName (CLI --server-name)."
                    : "WorkerConnectionOptions.Tls.ServerName (CLI --server-name) sets this name: give one the certificate holds.";
                return prefix + $"the worker's certificate does not hold the name '{targetHost}': {_certificate}. {how}";
            }

            if (ClientCertificateRequested && !HasClientCertificate)
            {
                return prefix + $"the worker requires a client certificate (mutual TLS) and none is configured: set WorkerConnectionOptions.Tls.ClientCertificateFile and ClientKeyFile (CLI --client-cert, --client-key). ({detail})";
            }

            if (HasClientCertificate && IsAlert(exception))
            {
                return prefix + $"the worker refused the handshake after receiving the client certificate {tls.ClientCertificateSource}: is it signed by a certificate authority the worker trusts (the reference worker's --tls-client-ca)? ({detail})";
            }

            if (!IsAlert(exception))
            {
                return prefix + $"the worker did not answer as a TLS server ({detail}). Is it listening without TLS? Then its address is http://, not https://.";
            }

            return prefix + detail;
        }

        /// <summary>Explains a connection the worker closed right after the handshake: TLS 1.3 servers check the client certificate then.</summary>
        public string DescribeRejection(Exception? exception)
        {
            var detail = exception is null ? "the connection was closed" : Innermost(exception);
            var prefix = $"TLS: the worker at {where} closed the connection right after the handshake";
            if (!HasClientCertificate)
            {
                return ClientCertificateRequested
                    ? $"{prefix}: it requires a client certificate (mutual TLS) and none is configured: set WorkerConnectionOptions.Tls.ClientCertificateFile and ClientKeyFile (CLI --client-cert, --client-key). ({detail})"
                    : $"{prefix} ({detail}): if it requires a client certificate (mutual TLS), set WorkerConnectionOptions.Tls.ClientCertificateFile and ClientKeyFile (CLI --client-cert, --client-key).";
            }

            return $"{prefix}: it refused the client certificate {tls.ClientCertificateSource}: is it signed by a certificate authority the worker trusts (the reference worker's --tls-client-ca)? ({detail})";
        }

        private static bool IsAlert(Exception exception)
        {
            for (var e = exception; e is not null; e = e.InnerException)
            {
                if (e.Message.Contains("alert", StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }

            return false;
        }

        private static string Innermost(Exception exception)
        {
            var messages = new List<string>();
            for (var e = exception; e is not null; e = e.InnerException)
            {
                if (!string.IsNullOrWhiteSpace(e.Message) && !messages.Contains(e.Message.Trim()))
                {
                    messages.Add(e.Message.Trim());
                }
            }

            return string.Join(" ", messages.Select(static m => m.EndsWith('.') ? m : m + "."));
        }

        private static string Summarize(X509Certificate certificate)
        {
            var names = new List<string>();
            if (certificate is X509Certificate2 certificate2)
            {
                foreach (var extension in certificate2.Extensions)
                {
                    if (extension is X509SubjectAlternativeNameExtension san)
                    {
                        names.AddRange(san.EnumerateDnsNames());
                        names.AddRange(san.EnumerateIPAddresses().Select(static ip => ip.ToString()));
                    }
                }
            }

            var held = names.Count == 0 ? "no subject alternative names" : "names " + string.Join(", ", names);
            return $"subject '{certificate.Subject}', issuer '{certificate.Issuer}', {held}";
        }
    }

    /// <summary>
    /// The TLS stream handed to the HTTP/2 client. When the worker asked for a client certificate,
    /// <see cref="ConfirmAcceptedAsync"/> learns before the connection is handed over whether the
    /// worker accepted it: a TLS 1.3 server checks the client's certificate after the client
    /// finished its side of the handshake, so a refusal shows only as the connection closing.
    /// </summary>
    private sealed class WorkerSslStream(Stream inner, Handshake handshake) : SslStream(inner, leaveInnerStreamOpen: false)
    {
        /// <summary>The HTTP/2 client connection preface's fixed first 24 bytes (RFC 9113, 3.4).</summary>
        private static readonly byte[] Magic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

        private byte[]? _pending;
        private int _pendingOffset;
        private int _pendingCount;
        private int _magicToSkip;

        /// <summary>
        /// Sends the preface's fixed bytes and waits for the worker's first bytes (its SETTINGS,
        /// which an HTTP/2 server sends once it has them): the end of the stream or a TLS alert
        /// instead is the worker refusing this client. What was read is handed to the HTTP/2
        /// client first, and the same fixed bytes are dropped from its first writes.
        /// </summary>
        public async ValueTask ConfirmAcceptedAsync(CancellationToken cancellationToken)
        {
            var buffer = new byte[4096];
            int read;
            try
            {
                await base.WriteAsync(Magic, cancellationToken).ConfigureAwait(false);
                await base.FlushAsync(cancellationToken).ConfigureAwait(false);
                read = await base.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or AuthenticationException && !cancellationToken.IsCancellationRequested)
            {
                throw new WorkerUnreachableException(handshake.Where, handshake.DescribeRejection(ex), ex);
            }

            if (read == 0)
            {
                throw new WorkerUnreachableException(handshake.Where, handshake.DescribeRejection(null));
            }

            _pending = buffer;
            _pendingCount = read;
            _magicToSkip = Magic.Length;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_pendingCount == 0 || buffer.Length == 0)
            {
                return base.ReadAsync(buffer, cancellationToken);
            }

            var count = Math.Min(buffer.Length, _pendingCount);
            _pending.AsSpan(_pendingOffset, count).CopyTo(buffer.Span);
            _pendingOffset += count;
            _pendingCount -= count;
            if (_pendingCount == 0)
            {
                _pending = null;
            }

            return ValueTask.FromResult(count);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_magicToSkip > 0)
            {
                var skip = Math.Min(_magicToSkip, buffer.Length);
                if (!buffer.Span[..skip].SequenceEqual(Magic.AsSpan(Magic.Length - _magicToSkip, skip)))
                {
                    throw new InvalidOperationException("The HTTP/2 client did not start with the connection preface.");
                }

                _magicToSkip -= skip;
                buffer = buffer[skip..];
                if (buffer.IsEmpty)
                {
                    return ValueTask.CompletedTask;
                }
            }

            return base.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }
}
