using System.CommandLine;
using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli.Commands;

/// <summary>
/// TLS and token options of the commands that reach a running worker (<c>run</c>, <c>heartbeat</c>,
/// <c>shutdown</c>): <see cref="WorkerConnectionOptions.Tls"/> and <see cref="WorkerConnectionOptions.TokenProvider"/>.
/// </summary>
internal sealed class CredentialOptions
{
    private readonly Option<string?> _caFile = new("--ca-file")
    {
        Description = "https:// workers: a PEM file of the certificate authorities that sign the workers' certificates; only these are trusted. Default: the system's trust store.",
        HelpName = "pem",
    };

    private readonly Option<string?> _serverName = new("--server-name")
    {
        Description = "https:// workers: the name the worker's certificate must hold, also sent as the TLS server name. Default: the address's host.",
        HelpName = "name",
    };

    private readonly Option<string?> _clientCert = new("--client-cert")
    {
        Description = "https:// workers: a PEM file of the client certificate for mutual TLS (its key in --client-key, or in the same file).",
        HelpName = "pem",
    };

    private readonly Option<string?> _clientKey = new("--client-key")
    {
        Description = "The PEM file of --client-cert's private key (unencrypted).",
        HelpName = "pem",
    };

    private readonly Option<string?> _tokenFile = new("--token-file")
    {
        Description = "A file holding a bearer token, sent as 'authorization: Bearer <token>' with every call; read again whenever it changes.",
        HelpName = "path",
    };

    private readonly Option<string?> _tokenEnv = new("--token-env")
    {
        Description = "The name of an environment variable holding a bearer token, sent as 'authorization: Bearer <token>' with every call.",
        HelpName = "variable",
    };

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { _caFile, _serverName, _clientCert, _clientKey, _tokenFile, _tokenEnv })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>
    /// Reads the options into a step that applies them to client options, after checking them:
    /// a file that does not exist or holds no usable certificate or key, a missing variable, or
    /// two token sources are a <see cref="UsageException"/> naming the option.
    /// </summary>
    public Action<WorkerConnectionOptions> Read(ParseResult parse)
    {
        var caFile = RequireFile(parse.GetValue(_caFile), "--ca-file");
        var serverName = parse.GetValue(_serverName);
        var clientCert = RequireFile(parse.GetValue(_clientCert), "--client-cert");
        var clientKey = RequireFile(parse.GetValue(_clientKey), "--client-key");
        var tokenFile = RequireFile(parse.GetValue(_tokenFile), "--token-file");
        var tokenEnv = parse.GetValue(_tokenEnv);
        if (clientKey is not null && clientCert is null)
        {
            throw new UsageException("--client-key is given without --client-cert; give the client certificate's PEM file too.");
        }

        if (tokenFile is not null && tokenEnv is not null)
        {
            throw new UsageException("--token-file and --token-env are both given; give at most one.");
        }

        WorkerTokenProvider? tokens = null;
        if (tokenFile is not null)
        {
            tokens = WorkerTokenProvider.FromFile(tokenFile);
        }
        else if (tokenEnv is not null)
        {
            try
            {
                tokens = WorkerTokenProvider.FromEnvironmentVariable(tokenEnv);
            }
            catch (ArgumentException ex)
            {
                throw new UsageException($"--token-env {tokenEnv}: the variable is not set or empty; export the token in it first.", ex);
            }
        }

        void Apply(WorkerConnectionOptions options)
        {
            options.Tls.CaCertificateFile = caFile;
            options.Tls.ServerName = serverName;
            options.Tls.ClientCertificateFile = clientCert;
            options.Tls.ClientKeyFile = clientKey;
            options.TokenProvider = tokens;
        }

        // The SDK reads the files now: a file without a certificate or key is a usage error too.
        var check = new WorkerConnectionOptions();
        Apply(check);
        try
        {
            check.Validate();
        }
        catch (ArgumentException ex) when (ex.Message.StartsWith("WorkerConnectionOptions.Tls.", StringComparison.Ordinal))
        {
            throw new UsageException(ex.Message
                .Replace("WorkerConnectionOptions.Tls.CaCertificateFile", "--ca-file", StringComparison.Ordinal)
                .Replace("WorkerConnectionOptions.Tls.ClientCertificateFile", "--client-cert", StringComparison.Ordinal)
                .Replace("WorkerConnectionOptions.Tls.ClientKeyFile", "--client-key", StringComparison.Ordinal)
                .Replace("WorkerConnectionOptions.Tls.ServerName", "--server-name", StringComparison.Ordinal), ex);
        }

        return Apply;
    }

    private static string? RequireFile(string? path, string option)
    {
        if (path is null)
        {
            return null;
        }

        if (!File.Exists(path))
        {
            throw new UsageException($"{option} {path}: the file does not exist.");
        }

        return Path.GetFullPath(path);
    }
}
