using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Grpc.Core;

namespace Engine.ReferenceWorker.Udfs.Faults;

/// <summary>
/// The misbehaviours of the <c>fuzz</c> format, by family. <see cref="FuzzUdf"/> shows each one's
/// wire sequence; the engine-side expectation of each is a table in the tests
/// (<c>test/Shared/Fuzzing/FuzzExpectations.cs</c>).
/// </summary>
/// <remarks>
/// A seed picks its misbehaviour as <c>seed % count</c> (<see cref="FuzzPlan.FromSeed"/>): the seeds
/// <c>0 .. count-1</c> cover every misbehaviour once, in this order. Adding a value moves the seeds
/// of every misbehaviour above the first <c>count</c> seeds.
/// </remarks>
internal enum FuzzMisbehaviour
{
    // Well-behaved: the session must finish with exactly the output described.

    /// <summary>Every input batch comes back as it is.</summary>
    Echo,

    /// <summary>Every input batch comes back twice, in two DataResponses.</summary>
    Duplicate,

    /// <summary>No output at all (a sink).</summary>
    Sink,

    /// <summary>Echo, waiting <see cref="FuzzPlan.DelayMs"/> before each output and before FinishResponse.</summary>
    SlowEcho,

    /// <summary>Output held until Finish, then sent <see cref="FuzzPlan.DelayMs"/> apart, then FinishResponse.</summary>
    HoldUntilFinish,

    /// <summary>Each output frame holds the input batch twice (one IPC stream, two record batches).</summary>
    TwoBatchesPerFrame,

    /// <summary>Every input batch comes back <see cref="FuzzPlan.ManyCopies"/> times: more output than the engine buffers.</summary>
    ManyOutputs,

    /// <summary>FinishResponse, then the call fails with <see cref="FuzzPlan.Status"/>: the terminator came first.</summary>
    StatusAfterTerminator,

    // Orderings.

    /// <summary>A DataResponse, then the InitResponse.</summary>
    DataBeforeInit,

    /// <summary>A FinishResponse instead of the InitResponse.</summary>
    FinishBeforeInit,

    /// <summary>A CancelResponse instead of the InitResponse, with no Cancel received.</summary>
    CancelBeforeInit,

    /// <summary>Two InitResponses.</summary>
    InitTwice,

    /// <summary>InitResponse and FinishResponse back to back, before any input.</summary>
    FinishRightAfterInit,

    /// <summary>A FinishResponse after input batch <see cref="FuzzPlan.At"/>, before the engine's Finish.</summary>
    FinishBeforeFinish,

    /// <summary>A CancelResponse after input batch <see cref="FuzzPlan.At"/> although the engine sent no Cancel.</summary>
    CancelUnprompted,

    /// <summary>Two ErrorResponses at input batch <see cref="FuzzPlan.At"/>.</summary>
    ErrorTwice,

    /// <summary>Two FinishResponses answering Finish.</summary>
    TerminatorTwice,

    /// <summary>A DataResponse after the FinishResponse.</summary>
    DataAfterTerminator,

    /// <summary>An ErrorResponse (worker error) instead of the InitResponse.</summary>
    ErrorInsteadOfInit,

    /// <summary>An ErrorResponse at input batch <see cref="FuzzPlan.At"/>, then a FinishResponse although no Finish came.</summary>
    FinishAfterError,

    // Empty oneofs and empty messages.

    /// <summary>A UdfResponse with no branch set instead of the InitResponse.</summary>
    EmptyEnvelopeAtInit,

    /// <summary>A UdfResponse with no branch set at input batch <see cref="FuzzPlan.At"/>.</summary>
    EmptyEnvelope,

    /// <summary>A UdfControlResponse with no branch set at input batch <see cref="FuzzPlan.At"/>.</summary>
    EmptyControl,

    /// <summary>An ErrorResponse whose ExecutionError has no kind set, at input batch <see cref="FuzzPlan.At"/>.</summary>
    ErrorWithoutKind,

    /// <summary>A zero-byte DataResponse in place of output batch <see cref="FuzzPlan.At"/>.</summary>
    EmptyData,

    // Data that is not what the session declared.

    /// <summary>Random bytes in place of output batch <see cref="FuzzPlan.At"/>.</summary>
    GarbageArrow,

    /// <summary>Output batch <see cref="FuzzPlan.At"/> cut short inside its record batch message.</summary>
    TruncatedArrow,

    /// <summary>Output batch <see cref="FuzzPlan.At"/> as a valid IPC stream of another schema.</summary>
    WrongSchema,

    /// <summary>Bytes that are not a valid protobuf message instead of the InitResponse.</summary>
    InvalidProtobufAtInit,

    /// <summary>Bytes that are not a valid protobuf message at input batch <see cref="FuzzPlan.At"/>.</summary>
    InvalidProtobuf,

    /// <summary>A DataResponse of <see cref="FuzzPlan.OversizedBytes"/> at input batch <see cref="FuzzPlan.At"/> (over the engine's receive limit in the tests).</summary>
    Oversized,

    // gRPC statuses and streams ending without a terminator.

    /// <summary>The call fails with <see cref="FuzzPlan.Status"/> instead of the InitResponse.</summary>
    StatusAtInit,

    /// <summary>The call fails with <see cref="FuzzPlan.Status"/> at input batch <see cref="FuzzPlan.At"/>.</summary>
    StatusMidStream,

    /// <summary>The call fails with <see cref="FuzzPlan.Status"/> instead of the FinishResponse.</summary>
    StatusAtFinish,

    /// <summary>The call ends (status OK) instead of the InitResponse.</summary>
    EndBeforeInit,

    /// <summary>The call ends (status OK) at input batch <see cref="FuzzPlan.At"/>, without a terminator.</summary>
    EndMidStream,

    /// <summary>The call ends (status OK) instead of the FinishResponse.</summary>
    EndAtFinish,

    // In-band errors (the protocol's own way to fail).

    /// <summary>InitResponse.error (a user error).</summary>
    InitError,

    /// <summary>An ErrorResponse (user error) at input batch <see cref="FuzzPlan.At"/>.</summary>
    UserError,

    /// <summary>FinishResponse.error (the finish callback failed).</summary>
    FinishError,

    /// <summary>An ErrorResponse (user error) instead of the FinishResponse; the engine's Cancel after Finish is answered.</summary>
    ErrorAtFinish,

    // Silence and slowness.

    /// <summary>Never answers Init, nor anything after it.</summary>
    SilentAtInit,

    /// <summary>Stops answering after input batch <see cref="FuzzPlan.At"/>: no output, no terminator.</summary>
    SilentMidStream,

    /// <summary>Processes the input, then never answers Finish nor Cancel.</summary>
    SilentAtFinish,

    /// <summary>Never answers Init; the engine's caller gives up through InitAsync's token.</summary>
    SilentInitCallerCancels,

    /// <summary>A slow init (cancellable); the engine closes the session while it waits for the InitResponse.</summary>
    SlowInitClosed,
}

/// <summary>
/// One seed of the <c>fuzz</c> format, expanded: the misbehaviour and its parameters. The same
/// function runs in the worker (which reads the seed from the payload) and in the engine-side
/// tests (which know from it what to expect), so it must stay a pure function of the seed.
/// </summary>
/// <param name="Seed">The seed: a non-negative number, the whole payload in decimal.</param>
/// <param name="Misbehaviour">What the worker does wrong (or not).</param>
/// <param name="InputBatches">How many input batches the engine sends (1 to 4).</param>
/// <param name="At">The zero-based input batch at which a per-batch misbehaviour happens (below <see cref="InputBatches"/>).</param>
/// <param name="Status">The gRPC status of the status misbehaviours.</param>
/// <param name="DelayMs">A short delay in milliseconds (1 to 30) for the slow misbehaviours; the engine's cancel delay for <see cref="FuzzMisbehaviour.SilentInitCallerCancels"/>.</param>
/// <param name="Noise">Free random bits: garbage bytes, cut points, variants.</param>
internal readonly record struct FuzzPlan(
    int Seed,
    FuzzMisbehaviour Misbehaviour,
    int InputBatches,
    int At,
    StatusCode Status,
    int DelayMs,
    ulong Noise)
{
    /// <summary>The format tag of the fuzzing worker.</summary>
    public const string Format = "fuzz";

    /// <summary>How often <see cref="FuzzMisbehaviour.ManyOutputs"/> sends each batch back.</summary>
    public const int ManyCopies = 25;

    /// <summary>Size of the <see cref="FuzzMisbehaviour.Oversized"/> DataResponse: 1 MiB + 4 KiB.</summary>
    public const int OversizedBytes = (1024 * 1024) + 4096;

    /// <summary>The statuses a status misbehaviour picks from (never OK, never Cancelled: those have their own meaning).</summary>
    public static readonly StatusCode[] Statuses =
    [
        StatusCode.Unavailable,
        StatusCode.Internal,
        StatusCode.Unknown,
        StatusCode.ResourceExhausted,
        StatusCode.DataLoss,
        StatusCode.Aborted,
        StatusCode.PermissionDenied,
        StatusCode.Unimplemented,
        StatusCode.FailedPrecondition,
        StatusCode.DeadlineExceeded,
    ];

    /// <summary>Every misbehaviour, in seed order.</summary>
    public static readonly FuzzMisbehaviour[] All = Enum.GetValues<FuzzMisbehaviour>();

    /// <summary>Expands <paramref name="seed"/>: <c>seed % All.Length</c> picks the misbehaviour, a hash of the seed the rest.</summary>
    public static FuzzPlan FromSeed(int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(seed);
        var state = (ulong)seed;
        var batches = 1 + (int)(Next(ref state) % 4);
        var at = (int)(Next(ref state) % (ulong)batches);
        var status = Statuses[Next(ref state) % (ulong)Statuses.Length];
        var delay = 1 + (int)(Next(ref state) % 30);
        var noise = Next(ref state);
        return new FuzzPlan(seed, All[seed % All.Length], batches, at, status, delay, noise);
    }

    /// <summary>Reads a payload: the seed in decimal.</summary>
    public static bool TryParse(string payload, out FuzzPlan plan, [NotNullWhen(false)] out string? error)
    {
        if (int.TryParse(payload.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var seed))
        {
            plan = FromSeed(seed);
            error = null;
            return true;
        }

        plan = default;
        error = $"the fuzz payload must be a seed (a non-negative decimal number), not '{payload}'";
        return false;
    }

    /// <summary>For example <c>seed 17: GarbageArrow at batch 1 of 3</c>.</summary>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"seed {Seed}: {Misbehaviour} (batches {InputBatches}, at {At}, status {Status}, delay {DelayMs} ms, noise {Noise:x16})");

    /// <summary>SplitMix64: small, fast, and the same on every platform and runtime.</summary>
    public static ulong Next(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
