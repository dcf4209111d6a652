using System.Text;
using Engine.Client.Protocol;
using Engine.Client.Workers;
using Google.Protobuf;

namespace Engine.Client;

/// <summary>
/// A worker specification (<c>UDFWorkerSpecification</c>): how the engine prepares the worker's
/// environment, launches the worker process and connects to it. Immutable once created.
/// </summary>
/// <remarks>
/// <para>
/// Load one from a file (<see cref="Load"/>, protobuf JSON or binary protobuf), from JSON text
/// (<see cref="Parse"/>), from bytes (<see cref="FromBinary"/>) or from a message
/// (<see cref="FromProto"/>). JSON follows the standard protobuf JSON mapping; both lowerCamel
/// (<c>initializationTimeoutMs</c>) and original (<c>initialization_timeout_ms</c>) field names
/// are accepted.
/// </para>
/// <para>
/// Creating a specification checks only that it can be read. <see cref="Validate"/> applies the
/// rules of the protocol and reports every problem at once; <see cref="Problems"/> lists them
/// without throwing. The typed accessors (<see cref="Runner"/>, <see cref="Transport"/>,
/// <see cref="InitializationTimeout"/>, ...) require a valid specification and throw
/// <see cref="WorkerSpecificationException"/> otherwise.
/// </para>
/// <para>
/// A relative executable (first entry of a command) that contains a <c>/</c> is resolved against
/// the directory of the specification file (<see cref="BaseDirectory"/>), or against the current
/// directory for a specification that did not come from a file. A bare name is looked up on the
/// <c>PATH</c> the process will see: the command's own <c>PATH</c> variable when it sets one,
/// otherwise the engine's.
/// </para>
/// </remarks>
public sealed class WorkerSpecification
{
    private static readonly JsonParser StrictParser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(false));

    private static readonly JsonParser LenientParser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    private readonly UDFWorkerSpecification _proto;
    private readonly WorkerSpecificationOptions _options;
    private IReadOnlyList<string>? _problems;

    private WorkerSpecification(UDFWorkerSpecification proto, string? sourcePath, WorkerSpecificationOptions? options)
    {
        var effective = (options ?? new WorkerSpecificationOptions()).Clone();
        effective.Validate();
        _proto = proto;
        _options = effective;
        SourcePath = sourcePath;
        BaseDirectory = sourcePath is null ? null : Path.GetDirectoryName(sourcePath);
    }

    /// <summary>The full path of the file the specification was loaded from, or <see langword="null"/>.</summary>
    public string? SourcePath { get; }

    /// <summary>
    /// The directory relative executables are resolved against: the specification file's
    /// directory, or <see langword="null"/> (the current directory) when it did not come from a file.
    /// </summary>
    public string? BaseDirectory { get; }

    /// <summary>The engine limits in effect (a copy of those given).</summary>
    public WorkerSpecificationOptions Options => _options.Clone();

    /// <summary>Every rule the specification breaks, each naming the field by its JSON path; empty when it is valid.</summary>
    public IReadOnlyList<string> Problems => _problems ??= SpecificationRules.Check(_proto);

    /// <summary>Whether the specification follows every rule (<see cref="Problems"/> is empty).</summary>
    public bool IsValid => Problems.Count == 0;

    /// <summary>How the worker process is launched (<c>direct.runner</c>).</summary>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    public WorkerCommand Runner => new(Valid().Direct.Runner);

    /// <summary>The transport between engine and worker (<c>direct.properties.connection</c>).</summary>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    public WorkerTransport Transport => Valid().Direct.Properties.Connection.TransportCase == WorkerConnectionSpec.TransportOneofCase.Tcp
        ? WorkerTransport.Tcp
        : WorkerTransport.UnixDomainSocket;

    /// <summary>Whether one worker may serve more than one session (<c>capabilities.supportsReuse</c>; unset means no).</summary>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    public bool SupportsReuse => Valid().Capabilities.SupportsReuse;

    /// <summary>Whether one worker may run several sessions at once (<c>capabilities.supportsConcurrentUdfs</c>; unset means no).</summary>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    public bool SupportsConcurrentUdfs => Valid().Capabilities.SupportsConcurrentUdfs;

    /// <summary>The initialization timeout the specification asks for, or <see langword="null"/> when it sets none.</summary>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    public TimeSpan? RequestedInitializationTimeout =>
        Valid().Direct.Properties.HasInitializationTimeoutMs ? TimeSpan.FromMilliseconds(_proto.Direct.Properties.InitializationTimeoutMs) : null;

    /// <summary>The SIGTERM grace the specification asks for, or <see langword="null"/> when it sets none.</summary>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    public TimeSpan? RequestedGracefulTerminationTimeout =>
        Valid().Direct.Properties.HasGracefulTerminationTimeoutMs ? TimeSpan.FromMilliseconds(_proto.Direct.Properties.GracefulTerminationTimeoutMs) : null;

    /// <summary>
    /// How long the worker has to become ready (accept a connection and answer a heartbeat): the
    /// specification's value (default 10 s), capped at
    /// <see cref="WorkerSpecificationOptions.MaxInitializationTimeout"/> (default 30 s).
    /// </summary>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    public TimeSpan InitializationTimeout => Min(
        RequestedInitializationTimeout ?? WorkerSpecificationOptions.DefaultInitializationTimeout,
        _options.MaxInitializationTimeout);

    /// <summary>
    /// How long the worker has to exit after SIGTERM before SIGKILL: the specification's value
    /// (default 5 s), capped at <see cref="WorkerSpecificationOptions.MaxGracefulTerminationTimeout"/>
    /// (default 30 s).
    /// </summary>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    public TimeSpan GracefulTerminationTimeout => Min(
        RequestedGracefulTerminationTimeout ?? WorkerSpecificationOptions.DefaultGracefulTerminationTimeout,
        _options.MaxGracefulTerminationTimeout);

    /// <summary>The environment installation step, or <see langword="null"/>.</summary>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    public WorkerCommand? Installation => Valid().Environment?.Installation is { } c ? new WorkerCommand(c) : null;

    /// <summary>The environment verification step (exit code 0 = ready, installation skipped), or <see langword="null"/>.</summary>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    public WorkerCommand? EnvironmentVerification => Valid().Environment?.EnvironmentVerification is { } c ? new WorkerCommand(c) : null;

    /// <summary>The environment cleanup step, run after all workers are gone, or <see langword="null"/>.</summary>
    /// <exception cref="WorkerSpecificationException">The specification is invalid.</exception>
    public WorkerCommand? EnvironmentCleanup => Valid().Environment?.EnvironmentCleanup is { } c ? new WorkerCommand(c) : null;

    /// <summary>
    /// Reads a specification file: protobuf JSON when its first non-blank character is <c>{</c>,
    /// binary protobuf otherwise. Does not validate; call <see cref="Validate"/>.
    /// </summary>
    /// <param name="path">The file; relative paths are taken from the current directory.</param>
    /// <param name="options">Engine limits; <see langword="null"/> uses the defaults.</param>
    /// <exception cref="WorkerSpecificationException">The file cannot be read, or its content is neither form.</exception>
    public static WorkerSpecification Load(string path, WorkerSpecificationOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = Path.GetFullPath(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(fullPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or System.Security.SecurityException)
        {
            throw new WorkerSpecificationException(fullPath, [DescribeReadFailure(fullPath, ex)], ex);
        }

        if (bytes.Length == 0)
        {
            throw new WorkerSpecificationException(fullPath, ["the file is empty; write the specification as protobuf JSON (see docs/examples/reference-worker.spec.json) or binary protobuf."]);
        }

        return new WorkerSpecification(Read(bytes, fullPath), fullPath, options);
    }

    /// <summary>Reads a specification from protobuf JSON text. Does not validate; call <see cref="Validate"/>.</summary>
    /// <param name="json">The JSON text (lowerCamel or original field names).</param>
    /// <param name="options">Engine limits; <see langword="null"/> uses the defaults.</param>
    /// <exception cref="WorkerSpecificationException">The text is not valid JSON for a worker specification; every problem is listed.</exception>
    public static WorkerSpecification Parse(string json, WorkerSpecificationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        return new WorkerSpecification(ParseJson(json, source: null), null, options);
    }

    /// <summary>Reads a specification from binary protobuf. Does not validate; call <see cref="Validate"/>.</summary>
    /// <param name="bytes">A serialized <c>UDFWorkerSpecification</c>.</param>
    /// <param name="options">Engine limits; <see langword="null"/> uses the defaults.</param>
    /// <exception cref="WorkerSpecificationException">The bytes are not a valid message.</exception>
    public static WorkerSpecification FromBinary(ReadOnlySpan<byte> bytes, WorkerSpecificationOptions? options = null) =>
        new(ParseBinary(bytes, source: null), null, options);

    /// <summary>Wraps a specification message (copied: later changes to it have no effect). Does not validate.</summary>
    /// <param name="specification">The message.</param>
    /// <param name="options">Engine limits; <see langword="null"/> uses the defaults.</param>
    public static WorkerSpecification FromProto(UDFWorkerSpecification specification, WorkerSpecificationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(specification);
        return new WorkerSpecification(specification.Clone(), null, options);
    }

    /// <summary>Checks every rule of the protocol and returns this specification when it is valid.</summary>
    /// <exception cref="WorkerSpecificationException">The specification breaks one or more rules; <see cref="WorkerSpecificationException.Problems"/> lists all of them.</exception>
    public WorkerSpecification Validate()
    {
        if (Problems.Count > 0)
        {
            throw new WorkerSpecificationException(SourcePath, Problems);
        }

        return this;
    }

    /// <summary>A copy of the specification message.</summary>
    public UDFWorkerSpecification ToProto() => _proto.Clone();

    /// <summary>The specification as protobuf JSON (lowerCamel names).</summary>
    public string ToJson() => JsonFormatter.Default.Format(_proto);

    /// <summary>The source file, or a short description, for messages.</summary>
    public override string ToString() => SourcePath ?? "in-memory worker specification";

    private UDFWorkerSpecification Valid()
    {
        Validate();
        return _proto;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a <= b ? a : b;

    private static UDFWorkerSpecification Read(byte[] bytes, string source)
    {
        if (LooksLikeJson(bytes))
        {
            try
            {
                return ParseJson(DecodeUtf8(bytes, source), source);
            }
            catch (WorkerSpecificationException) when (TryParseBinary(bytes, out var binary))
            {
                // A binary message may start with bytes that look like JSON; it parsed as such.
                return binary;
            }
        }

        try
        {
            return ParseBinary(bytes, source);
        }
        catch (WorkerSpecificationException ex)
        {
            throw new WorkerSpecificationException(
                source,
                [$"the file is neither protobuf JSON (it does not start with '{{') nor a valid binary protobuf UDFWorkerSpecification: {ex.Problems[0]}"],
                ex.InnerException);
        }
    }

    private static bool LooksLikeJson(byte[] bytes)
    {
        var span = bytes.AsSpan();
        if (span.StartsWith("\uFEFF"u8))
        {
            span = span[3..];
        }

        foreach (var b in span)
        {
            if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
            {
                continue;
            }

            return b == (byte)'{';
        }

        return false;
    }

    private static string DecodeUtf8(byte[] bytes, string source)
    {
        try
        {
            var text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes);
            return text.TrimStart('\uFEFF');
        }
        catch (DecoderFallbackException ex)
        {
            throw new WorkerSpecificationException(source, ["the file looks like JSON but is not valid UTF-8; save it as UTF-8."], ex);
        }
    }

    private static UDFWorkerSpecification ParseJson(string json, string? source)
    {
        var problems = SpecificationJsonCheck.Check(json, UDFWorkerSpecification.Descriptor);
        if (problems.Count > 0)
        {
            // When the rest of the document reads (only unknown fields were wrong), the rules'
            // problems are listed too: every problem at once, not one round per fix.
            if (TryParseIgnoringUnknownFields(json) is { } rest)
            {
                // A rule's problem about an object holding an unknown field (a misspelt transport
                // leaves "no transport set") repeats what the unknown field says: left out.
                var unknownPaths = problems.Select(PathOf).ToList();
                problems.AddRange(SpecificationRules.Check(rest).Where(rule => !unknownPaths.Any(path => path.StartsWith(PathOf(rule) + ".", StringComparison.Ordinal))));
            }

            throw new WorkerSpecificationException(source, problems);
        }

        try
        {
            return StrictParser.Parse<UDFWorkerSpecification>(json);
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidJsonException or FormatException)
        {
            throw new WorkerSpecificationException(
                source,
                [$"the JSON is not a valid UDFWorkerSpecification: {ex.Message.TrimEnd('.')}. Check it against the protobuf JSON mapping of worker_spec.proto."],
                ex);
        }
    }

    private static string PathOf(string problem)
    {
        var colon = problem.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 ? problem[..colon] : problem;
    }

    private static UDFWorkerSpecification? TryParseIgnoringUnknownFields(string json)
    {
        try
        {
            return LenientParser.Parse<UDFWorkerSpecification>(json);
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or InvalidJsonException or FormatException)
        {
            return null;
        }
    }

    private static UDFWorkerSpecification ParseBinary(ReadOnlySpan<byte> bytes, string? source)
    {
        try
        {
            return UDFWorkerSpecification.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new WorkerSpecificationException(
                source,
                [$"the bytes are not a valid binary protobuf UDFWorkerSpecification: {ex.Message}"],
                ex);
        }
    }

    private static bool TryParseBinary(byte[] bytes, out UDFWorkerSpecification specification)
    {
        try
        {
            specification = UDFWorkerSpecification.Parser.ParseFrom(bytes);
            return true;
        }
        catch (InvalidProtocolBufferException)
        {
            specification = null!;
            return false;
        }
    }

    private static string DescribeReadFailure(string path, Exception ex) => ex switch
    {
        FileNotFoundException => $"the file does not exist. Check the path ({path}).",
        DirectoryNotFoundException => $"its directory does not exist. Check the path ({path}).",
        UnauthorizedAccessException when Directory.Exists(path) => "the path is a directory; give the specification file itself.",
        UnauthorizedAccessException => "permission denied reading the file; make it readable by the engine's user.",
        _ => $"the file cannot be read: {ex.Message}",
    };
}
