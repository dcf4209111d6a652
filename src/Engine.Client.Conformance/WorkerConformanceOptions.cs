using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;
using Engine.Client.Protocol;

namespace Engine.Client.Conformance;

/// <summary>
/// Settings of a <see cref="WorkerConformance"/> run, and the worker's profile: how this worker
/// is made to echo, to fail its init and to raise a user error, which the protocol leaves to each
/// worker. The defaults are the reference worker's profile (<c>Engine.ReferenceWorker</c>); for
/// another worker, load its profile with <see cref="LoadProfile(string)"/> or
/// <see cref="ParseProfile(string)"/> (docs/conformance.md, "Writing a profile"). A check that needs
/// a behaviour the profile does not give ends as <see cref="ConformanceStatus.NotApplicable"/>,
/// naming the profile key that would enable it.
/// </summary>
public sealed class WorkerConformanceOptions
{
    /// <summary>The profile key of the echo UDF (<see cref="EchoFormat"/>).</summary>
    public const string EchoKey = "echo";

    /// <summary>The profile key of the UDF whose init fails (<see cref="InitFailureFormat"/>).</summary>
    public const string InitFailureKey = "initFailure";

    /// <summary>The profile key of the UDF that raises a user error (<see cref="UserErrorFormat"/>).</summary>
    public const string UserErrorKey = "userError";

    /// <summary>The profile key of the UDF with a large output (<see cref="LargeOutputFormat"/>).</summary>
    public const string LargeOutputKey = "largeOutput";

    /// <summary>The profile key of the keepalive ping delay the worker accepts (<see cref="KeepAlivePingDelay"/>).</summary>
    public const string KeepAliveKey = "keepalive";

    /// <summary>The profile key of the UDF with Arrow output of its own schema (<see cref="ArrowOutputFormat"/>).</summary>
    public const string ArrowOutputKey = "arrowOutput";

    /// <summary>The shortest <see cref="KeepAlivePingDelay"/>: 1 s, the shortest the .NET HTTP/2 client sends.</summary>
    public static readonly TimeSpan MinKeepAlivePingDelay = TimeSpan.FromSeconds(1);

    /// <summary>The longest <see cref="KeepAlivePingDelay"/>: 60 s (the check is quiet for eight delays).</summary>
    public static readonly TimeSpan MaxKeepAlivePingDelay = TimeSpan.FromSeconds(60);

    /// <summary>The name of the profile, shown in reports. Default <c>reference worker</c>.</summary>
    public string ProfileName { get; set; } = "reference worker";

    /// <summary>
    /// Bound on every single wait (a send, a response, a Manage call), so a broken worker fails
    /// a check instead of hanging it. Default 10 s.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The payload format of a UDF that returns every input batch unchanged, one output per
    /// input, in order; <see langword="null"/> when the worker has none (every check that needs it is
    /// then not applicable, key <c>echo</c>). Default <c>echo</c>.
    /// </summary>
    public string? EchoFormat { get; set; } = "echo";

    /// <summary>The payload sent with <see cref="EchoFormat"/>; at least 3 bytes (it is split into three chunks). Default a short text.</summary>
    public ReadOnlyMemory<byte> EchoPayload { get; set; } = Encoding.UTF8.GetBytes("engine-client conformance echo");

    /// <summary>
    /// Input batches, in the session's data format (each <c>DataRequest.data</c>). At least 3;
    /// an echo UDF must return each unchanged (byte for byte, or, when
    /// <see cref="ArrowSchema"/> is set, as the same Arrow schema and values). Default the bytes
    /// of "a", "b" and "c" (opaque bytes), which a worker that does not decode its input accepts.
    /// </summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> Batches { get; set; } =
        [Encoding.UTF8.GetBytes("a"), Encoding.UTF8.GetBytes("b"), Encoding.UTF8.GetBytes("c")];

    /// <summary>
    /// The Arrow schema of <see cref="Batches"/> as an IPC stream holding only the schema, or
    /// <see langword="null"/> (default) for opaque bytes. When set, every Init carries it as
    /// <c>input_schema</c> and <c>output_schema</c>, and echoed output is compared by decoding it
    /// (schema and values) instead of byte for byte.
    /// </summary>
    public ReadOnlyMemory<byte>? ArrowSchema { get; set; }

    /// <summary>How many batches C3 streams while reading concurrently. Default 256.</summary>
    public int DuplexBatchCount { get; set; } = 256;

    /// <summary>
    /// The payload format of a UDF whose init fails (C10 inline, C11 chunked), or
    /// <see langword="null"/> when the profile gives none (C10 and C11 are then not applicable, key
    /// <c>initFailure</c>). Default <c>engine-client-conformance-unknown-format</c>: the reference
    /// worker fails the init of a format it does not know, which the protocol does not require.
    /// </summary>
    public string? InitFailureFormat { get; set; } = "engine-client-conformance-unknown-format";

    /// <summary>The payload sent with <see cref="InitFailureFormat"/>; at least 2 bytes (C11 sends it in two chunks). Default a short text.</summary>
    public ReadOnlyMemory<byte> InitFailurePayload { get; set; } = Encoding.UTF8.GetBytes("engine-client conformance init failure");

    /// <summary>
    /// The kind the init error must have, or <see langword="null"/> to accept any kind. Default
    /// <see cref="ExecutionError.KindOneofCase.Worker"/> (an unknown format is the worker's error).
    /// </summary>
    public ExecutionError.KindOneofCase? ExpectedInitFailureKind { get; set; } = ExecutionError.KindOneofCase.Worker;

    /// <summary>
    /// The payload format of a UDF that raises a user error on input batch
    /// <see cref="UserErrorBatch"/> (C8), or <see langword="null"/> when the profile gives none (C8
    /// is then not applicable, key <c>userError</c>). Default <c>fault</c> (the reference worker's).
    /// </summary>
    public string? UserErrorFormat { get; set; } = "fault";

    /// <summary>The payload sent with <see cref="UserErrorFormat"/>. Default <c>user-error</c>.</summary>
    public ReadOnlyMemory<byte> UserErrorPayload { get; set; } = Encoding.UTF8.GetBytes("user-error");

    /// <summary>
    /// The index (0-based, below the number of <see cref="Batches"/>) of the input batch on which
    /// the UDF raises; the batches before it may produce output or not. Default 0.
    /// </summary>
    public int UserErrorBatch { get; set; }

    /// <summary>The message the user error must carry, exactly, or <see langword="null"/> to accept any. Default <c>boom in UDF</c>.</summary>
    public string? ExpectedUserErrorMessage { get; set; } = "boom in UDF";

    /// <summary>The error class the user error must carry, exactly, or <see langword="null"/> to accept any. Default <c>UdfError</c>.</summary>
    public string? ExpectedUserErrorClass { get; set; } = "UdfError";

    /// <summary>The traceback the user error must carry, exactly, or <see langword="null"/> (default) to accept any.</summary>
    public string? ExpectedUserErrorTraceback { get; set; }

    /// <summary>
    /// The payload format of a UDF that answers each input batch with one output of
    /// <see cref="LargeOutputBytes"/> bytes (check <c>large-output</c>), or <see langword="null"/> when
    /// the profile gives none (the check is then not applicable, key <c>largeOutput</c>). Default
    /// <c>fault</c> (the reference worker's <c>big-output</c>).
    /// </summary>
    public string? LargeOutputFormat { get; set; } = "fault";

    /// <summary>The payload sent with <see cref="LargeOutputFormat"/>. Default <c>big-output:5242880</c>.</summary>
    public ReadOnlyMemory<byte> LargeOutputPayload { get; set; } = Encoding.UTF8.GetBytes("big-output:5242880");

    /// <summary>The exact size of that output, in bytes; above 4 MiB (gRPC's default message limit). Default 5 MiB (5,242,880).</summary>
    public int LargeOutputBytes { get; set; } = 5 * 1024 * 1024;

    /// <summary>
    /// The delay between the HTTP/2 keepalive pings of check <c>keepalive-pings</c>: the engine's
    /// pings (sent while a call is active, when nothing arrived for this long) that the worker must
    /// accept on a quiet Execute stream without closing the connection. From 1 s to 60 s; the check
    /// keeps its stream quiet for eight delays plus a second. <see langword="null"/> when the profile
    /// gives none (the check is then not applicable, key <c>keepalive</c>). Default 1 s (the
    /// reference worker, on Kestrel, accepts pings at any rate).
    /// </summary>
    /// <remarks>
    /// gRPC-core servers (C++, Python, Ruby) accept one ping per 5 minutes while they send nothing
    /// and close the connection after the third early one, unless
    /// <c>grpc.http2.min_ping_interval_without_data_ms</c> is lowered: give the delay your worker is
    /// configured to accept, no shorter than your engines' <c>KeepAlivePingDelay</c> needs.
    /// </remarks>
    public TimeSpan? KeepAlivePingDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The payload format of a UDF whose output is Arrow data of a schema of its own (check
    /// <c>arrow-output</c>: every output batch must be a valid Arrow IPC stream of
    /// <see cref="ArrowOutputSchema"/>), or <see langword="null"/> when the profile gives none (the
    /// check is then not applicable, key <c>arrowOutput</c>). Default <c>builtin</c> (the reference
    /// worker's language, running <c>add n 1; select n</c>).
    /// </summary>
    public string? ArrowOutputFormat { get; set; } = "builtin";

    /// <summary>The payload sent with <see cref="ArrowOutputFormat"/>. Default <c>add n 1; select n</c>.</summary>
    public ReadOnlyMemory<byte> ArrowOutputPayload { get; set; } = Encoding.UTF8.GetBytes("add n 1; select n");

    /// <summary>
    /// The Arrow schema of the input of <see cref="ArrowOutputFormat"/>, as an IPC stream holding
    /// only the schema; sent as <c>Init.input_schema</c>, and the kit sends three batches of it.
    /// Default <c>n: int64, s: utf8</c>.
    /// </summary>
    public ReadOnlyMemory<byte> ArrowOutputInputSchema { get; set; } = DefaultArrowOutputInput.Schema;

    /// <summary>
    /// The Arrow schema every output batch of <see cref="ArrowOutputFormat"/> must have, as an IPC
    /// stream holding only the schema; sent as <c>Init.output_schema</c>. Default <c>n: int64</c>.
    /// </summary>
    public ReadOnlyMemory<byte> ArrowOutputSchema { get; set; } =
        Arrow.ArrowSchemas.Serialize(new Schema([new Field("n", Int64Type.Default, nullable: true)], null));

    /// <summary>The input batches of check <c>arrow-output</c> (three Arrow IPC streams of <see cref="ArrowOutputInputSchema"/>); set with it.</summary>
    internal IReadOnlyList<ReadOnlyMemory<byte>> ArrowOutputBatches { get; set; } = DefaultArrowOutputInput.Batches;

    /// <summary>
    /// Applied to every Init the checks send (after the check set its own fields), for workers
    /// that need schemas, session settings or task context. Default <see langword="null"/>.
    /// </summary>
    public Action<Init>? ConfigureInit { get; set; }

    /// <summary>
    /// Whether an advisory check (<see cref="ConformanceCheck.Advisory"/>: a recommendation of the
    /// protocol, not a requirement) that the worker does not follow ends as
    /// <see cref="ConformanceStatus.Failed"/>. Default <see langword="false"/>: it ends as
    /// <see cref="ConformanceStatus.Warning"/>, which fails no run.
    /// </summary>
    public bool Strict { get; set; }

    /// <summary>The reason sent with Manage Shutdown. Default <c>engine-client conformance check</c>.</summary>
    public string ShutdownReason { get; set; } = "engine-client conformance check";

    /// <summary>
    /// Reads a profile file (JSON, docs/conformance.md "Writing a profile") into options whose
    /// other settings are the defaults. A behaviour the file does not give is left unset, so its
    /// checks are not applicable; nothing is taken from the reference worker's profile.
    /// </summary>
    /// <param name="path">The profile file.</param>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="FormatException">The file is not a valid profile; the message names the key.</exception>
    public static WorkerConformanceOptions LoadProfile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return ParseProfile(File.ReadAllText(path));
    }

    /// <summary>Reads a profile (JSON text); see <see cref="LoadProfile(string)"/>.</summary>
    /// <param name="json">The profile.</param>
    /// <exception cref="FormatException">The text is not a valid profile; the message names the key.</exception>
    public static WorkerConformanceOptions ParseProfile(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return ConformanceProfile.Parse(json);
    }

    /// <summary>Checks every setting; throws an <see cref="ArgumentException"/> naming the first bad one.</summary>
    public void Validate()
    {
        WorkerClientOptions.RequirePositive(Timeout, nameof(Timeout));
        if (EchoFormat is not null && EchoFormat.Length == 0)
        {
            throw new ArgumentException($"{nameof(EchoFormat)} must name a payload format, or be null when the worker has no echo UDF.");
        }

        if (EchoFormat is not null && EchoPayload.Length < 3)
        {
            throw new ArgumentException($"{nameof(EchoPayload)} must hold at least 3 bytes: C15 splits it into three chunks.");
        }

        if (Batches is null || Batches.Count < 3)
        {
            throw new ArgumentException($"{nameof(Batches)} must hold at least 3 batches.");
        }

        if (DuplexBatchCount < 1)
        {
            throw new ArgumentException($"{nameof(DuplexBatchCount)} must be at least 1.");
        }

        if (InitFailureFormat is not null && (InitFailureFormat.Length == 0 || string.Equals(InitFailureFormat, EchoFormat, StringComparison.Ordinal)))
        {
            throw new ArgumentException($"{nameof(InitFailureFormat)} must name a format whose init fails, not the echo format.");
        }

        if (InitFailureFormat is not null && InitFailurePayload.Length < 2)
        {
            throw new ArgumentException($"{nameof(InitFailurePayload)} must hold at least 2 bytes: C11 sends it in two chunks.");
        }

        if (UserErrorFormat is not null && UserErrorFormat.Length == 0)
        {
            throw new ArgumentException($"{nameof(UserErrorFormat)} must name a payload format, or be null.");
        }

        if (UserErrorBatch < 0 || UserErrorBatch >= Batches.Count)
        {
            throw new ArgumentException($"{nameof(UserErrorBatch)} must be an index of {nameof(Batches)} (0 to {Batches.Count - 1}).");
        }

        if (LargeOutputFormat is not null && (LargeOutputFormat.Length == 0 || LargeOutputBytes <= 4 * 1024 * 1024))
        {
            throw new ArgumentException($"{nameof(LargeOutputFormat)} must name a payload format, and {nameof(LargeOutputBytes)} must be above 4 MiB (4194304).");
        }

        if (KeepAlivePingDelay is { } delay && (delay < MinKeepAlivePingDelay || delay > MaxKeepAlivePingDelay))
        {
            throw new ArgumentException($"{nameof(KeepAlivePingDelay)} is {delay}; it must be from 1 s to 60 s, or null when the profile gives none.");
        }

        if (ArrowOutputFormat is not null && (ArrowOutputFormat.Length == 0 || ArrowOutputBatches.Count < 1))
        {
            throw new ArgumentException($"{nameof(ArrowOutputFormat)} must name a payload format, with {nameof(ArrowOutputInputSchema)} and {nameof(ArrowOutputSchema)} set.");
        }

        ArgumentNullException.ThrowIfNull(ShutdownReason, nameof(ShutdownReason));
    }

    /// <summary>
    /// Sets <see cref="ArrowOutputInputSchema"/> and <see cref="ArrowOutputSchema"/>, and makes
    /// the three input batches of check <c>arrow-output</c> from the input schema (three rows each,
    /// distinct values, a null in nullable columns). Field types: bool, int32, int64, float64 and utf8.
    /// </summary>
    /// <param name="input">The input schema.</param>
    /// <param name="output">The schema every output batch must have.</param>
    /// <exception cref="ArgumentException">A field of <paramref name="input"/> has a type the kit cannot generate.</exception>
    public void SetArrowOutputSchemas(Schema input, Schema output)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        var (schema, batches) = ConformanceArrow.Batches(input);
        ArrowOutputInputSchema = schema;
        ArrowOutputBatches = batches;
        ArrowOutputSchema = Arrow.ArrowSchemas.Serialize(output);
    }

    internal WorkerConformanceOptions Clone()
    {
        var clone = (WorkerConformanceOptions)MemberwiseClone();
        clone.Batches = [.. Batches];
        clone.ArrowOutputBatches = [.. ArrowOutputBatches];
        return clone;
    }
}

/// <summary>The reference worker's input for check <c>arrow-output</c>: <c>n: int64, s: utf8</c>.</summary>
internal static class DefaultArrowOutputInput
{
    private static readonly (byte[] Schema, IReadOnlyList<ReadOnlyMemory<byte>> Batches) Data = ConformanceArrow.Batches(
        new Schema([new Field("n", Int64Type.Default, nullable: true), new Field("s", StringType.Default, nullable: true)], null));

    public static ReadOnlyMemory<byte> Schema => Data.Schema;

    public static IReadOnlyList<ReadOnlyMemory<byte>> Batches => Data.Batches;
}
