using System.Buffers.Binary;
using System.Globalization;
using System.Reflection;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Engine.Client.Protocol;
using Engine.ReferenceWorker.Udfs.Builtin;
using Google.Protobuf;

namespace Engine.ReferenceWorker.Udfs.Faults;

/// <summary>
/// Format <c>fuzz</c>: the payload is a seed (<see cref="FuzzPlan"/>) that picks one misbehaviour
/// and its parameters, so a test can run hundreds of seeded sessions against one real worker and
/// know from each seed what the engine must conclude. Unless the misbehaviour says otherwise the
/// UDF echoes its input (Arrow IPC streams, one per data message). Finish answers
/// <c>FinishResponse.data = "fuzz &lt;seed&gt;: &lt;n&gt; batches"</c>.
/// </summary>
internal sealed class FuzzUdf : Udf
{
    public const string Format = FuzzPlan.Format;

    /// <summary>How long <see cref="FuzzMisbehaviour.SlowInitClosed"/> waits at most (the engine's Cancel ends it first).</summary>
    private static readonly TimeSpan SlowInit = TimeSpan.FromSeconds(30);

    private static readonly FieldInfo ResponseUnknownFields = UnknownFieldsOf(typeof(UdfResponse));
    private static readonly FieldInfo FinishUnknownFields = UnknownFieldsOf(typeof(Finish));

    private readonly List<ByteString> _held = [];
    private FuzzPlan _plan;
    private IWireControl? _wire;
    private int _batches;

    private IWireControl Wire => _wire ?? throw new InvalidOperationException("InitAsync has not run.");

    private FuzzMisbehaviour Kind => _plan.Misbehaviour;

    public override async ValueTask<ByteString?> InitAsync(UdfInitContext context, CancellationToken cancellationToken)
    {
        if (!FuzzPlan.TryParse(context.Payload.ToStringUtf8(), out _plan, out var error))
        {
            throw UdfException.Worker(error);
        }

        _wire = context.Wire;
        switch (Kind)
        {
            case FuzzMisbehaviour.DataBeforeInit:
                Wire.SendRaw(UdfResponses.Data(ByteString.CopyFromUtf8("fuzz: data before init")));
                break;
            case FuzzMisbehaviour.ErrorInsteadOfInit:
                Wire.SendRaw(UdfResponses.Error(ExecutionErrors.Worker("fuzz: error instead of init")));
                Wire.Override(StreamOverride.AwaitCancel);
                break;
            case FuzzMisbehaviour.FinishBeforeInit:
                Wire.SendRaw(UdfResponses.Finish(metrics: null));
                Wire.Override(StreamOverride.Terminated);
                break;
            case FuzzMisbehaviour.CancelBeforeInit:
                Wire.SendRaw(UdfResponses.Cancel(metrics: null));
                Wire.Override(StreamOverride.Terminated);
                break;
            case FuzzMisbehaviour.InitTwice:
                // The stream sends the second one when this hook returns.
                Wire.SendRaw(UdfResponses.Init(data: null));
                break;
            case FuzzMisbehaviour.EmptyEnvelopeAtInit:
                Wire.SendRaw(new UdfResponse());
                Wire.Override(StreamOverride.AwaitCancel);
                break;
            case FuzzMisbehaviour.InvalidProtobufAtInit:
                Wire.SendRaw(InvalidProtobuf());
                Wire.Override(StreamOverride.AwaitCancel);
                break;
            case FuzzMisbehaviour.StatusAtInit:
                Wire.Override(StreamOverride.FailCall, new Grpc.Core.Status(_plan.Status, "fuzz: status at init"));
                break;
            case FuzzMisbehaviour.EndBeforeInit:
                Wire.Override(StreamOverride.EndCall);
                break;
            case FuzzMisbehaviour.InitError:
                throw UdfException.User("fuzz: init failed", "FuzzInitError", "Traceback: fuzz init");
            case FuzzMisbehaviour.SilentAtInit or FuzzMisbehaviour.SilentInitCallerCancels:
                Wire.Override(StreamOverride.Unresponsive);
                break;
            case FuzzMisbehaviour.SlowInitClosed:
                // Ended by the engine's Cancel (the token), long before the delay runs out.
                await Task.Delay(SlowInit, cancellationToken).ConfigureAwait(false);
                break;
        }

        return await base.InitAsync(context, cancellationToken).ConfigureAwait(false);
    }

    public override ValueTask StartAsync(IUdfOutput output, CancellationToken cancellationToken)
    {
        if (Kind == FuzzMisbehaviour.FinishRightAfterInit)
        {
            Wire.SendRaw(UdfResponses.Finish(metrics: null));
            Wire.Override(StreamOverride.Terminated);
        }

        return ValueTask.CompletedTask;
    }

    public override async ValueTask ProcessAsync(ByteString batch, IUdfOutput output, CancellationToken cancellationToken)
    {
        var index = _batches++;
        if (index == _plan.At && await MisbehaveAtAsync(batch, output, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        switch (Kind)
        {
            case FuzzMisbehaviour.Duplicate:
                await output.EmitAsync(batch, cancellationToken: cancellationToken).ConfigureAwait(false);
                await output.EmitAsync(batch, cancellationToken: cancellationToken).ConfigureAwait(false);
                break;
            case FuzzMisbehaviour.Sink:
                break;
            case FuzzMisbehaviour.SlowEcho:
                await Task.Delay(_plan.DelayMs, cancellationToken).ConfigureAwait(false);
                await output.EmitAsync(batch, cancellationToken: cancellationToken).ConfigureAwait(false);
                break;
            case FuzzMisbehaviour.HoldUntilFinish:
                _held.Add(batch);
                break;
            case FuzzMisbehaviour.TwoBatchesPerFrame:
                await output.EmitAsync(Twice(batch), cancellationToken: cancellationToken).ConfigureAwait(false);
                break;
            case FuzzMisbehaviour.ManyOutputs:
                for (var copy = 0; copy < FuzzPlan.ManyCopies; copy++)
                {
                    await output.EmitAsync(batch, cancellationToken: cancellationToken).ConfigureAwait(false);
                }

                break;
            default:
                await output.EmitAsync(batch, cancellationToken: cancellationToken).ConfigureAwait(false);
                break;
        }
    }

    public override async ValueTask<ByteString?> FinishAsync(IUdfOutput output, CancellationToken cancellationToken)
    {
        var data = ByteString.CopyFromUtf8(string.Create(CultureInfo.InvariantCulture, $"fuzz {_plan.Seed}: {_batches} batches"));
        switch (Kind)
        {
            case FuzzMisbehaviour.SlowEcho:
                await Task.Delay(_plan.DelayMs, cancellationToken).ConfigureAwait(false);
                break;
            case FuzzMisbehaviour.HoldUntilFinish:
                foreach (var held in _held)
                {
                    await Task.Delay(_plan.DelayMs, cancellationToken).ConfigureAwait(false);
                    await output.EmitAsync(held, cancellationToken: cancellationToken).ConfigureAwait(false);
                }

                break;
            case FuzzMisbehaviour.TerminatorTwice:
                // The stream sends the second one when this hook returns.
                Wire.SendRaw(UdfResponses.Finish(metrics: null, data));
                break;
            case FuzzMisbehaviour.StatusAfterTerminator:
                Wire.SendRaw(UdfResponses.Finish(metrics: null, data));
                Wire.Override(StreamOverride.FailCall, new Grpc.Core.Status(_plan.Status, "fuzz: status after the terminator"));
                break;
            case FuzzMisbehaviour.ErrorAtFinish:
                Wire.SendRaw(UdfResponses.Error(ExecutionErrors.User("fuzz: error at finish", "FuzzError")));
                Wire.Override(StreamOverride.AwaitCancel);
                break;
            case FuzzMisbehaviour.DataAfterTerminator:
                Wire.SendRaw(UdfResponses.Finish(metrics: null, data));
                Wire.SendRaw(UdfResponses.Data(ByteString.CopyFromUtf8("fuzz: data after the terminator")));
                Wire.Override(StreamOverride.Terminated);
                break;
            case FuzzMisbehaviour.StatusAtFinish:
                Wire.Override(StreamOverride.FailCall, new Grpc.Core.Status(_plan.Status, "fuzz: status at finish"));
                break;
            case FuzzMisbehaviour.EndAtFinish:
                Wire.Override(StreamOverride.EndCall);
                break;
            case FuzzMisbehaviour.SilentAtFinish:
                Wire.Override(StreamOverride.Unresponsive);
                break;
            case FuzzMisbehaviour.FinishError:
                throw UdfException.User("fuzz: finish failed", "FuzzFinishError");
        }

        return data;
    }

    /// <summary>The per-batch misbehaviours, at input batch <see cref="FuzzPlan.At"/>. Returns whether the batch was handled.</summary>
    private async ValueTask<bool> MisbehaveAtAsync(ByteString batch, IUdfOutput output, CancellationToken cancellationToken)
    {
        switch (Kind)
        {
            case FuzzMisbehaviour.FinishBeforeFinish:
                await output.EmitAsync(batch, cancellationToken: cancellationToken).ConfigureAwait(false);
                Wire.SendRaw(UdfResponses.Finish(metrics: null));
                Wire.Override(StreamOverride.Terminated);
                return true;
            case FuzzMisbehaviour.CancelUnprompted:
                Wire.SendRaw(UdfResponses.Cancel(metrics: null));
                Wire.Override(StreamOverride.Terminated);
                return true;
            case FuzzMisbehaviour.FinishAfterError:
                Wire.SendRaw(UdfResponses.Error(ExecutionErrors.User("fuzz: error before an unasked FinishResponse", "FuzzError")));
                Wire.SendRaw(UdfResponses.Finish(metrics: null));
                Wire.Override(StreamOverride.Terminated);
                return true;
            case FuzzMisbehaviour.ErrorTwice:
                Wire.SendRaw(UdfResponses.Error(ExecutionErrors.User("fuzz: first error", "FuzzError")));
                throw UdfException.User("fuzz: second error", "FuzzError");
            case FuzzMisbehaviour.EmptyEnvelope:
                Wire.SendRaw(new UdfResponse());
                Wire.Override(StreamOverride.AwaitCancel);
                return true;
            case FuzzMisbehaviour.EmptyControl:
                Wire.SendRaw(new UdfResponse { Control = new UdfControlResponse() });
                Wire.Override(StreamOverride.AwaitCancel);
                return true;
            case FuzzMisbehaviour.ErrorWithoutKind:
                Wire.SendRaw(UdfResponses.Error(new ExecutionError()));
                Wire.Override(StreamOverride.AwaitCancel);
                return true;
            case FuzzMisbehaviour.EmptyData:
                await output.EmitAsync(ByteString.Empty, cancellationToken: cancellationToken).ConfigureAwait(false);
                return true;
            case FuzzMisbehaviour.GarbageArrow:
                await output.EmitAsync(Garbage(_plan.Noise), cancellationToken: cancellationToken).ConfigureAwait(false);
                return true;
            case FuzzMisbehaviour.TruncatedArrow:
                await output.EmitAsync(Truncate(batch, _plan.Noise), cancellationToken: cancellationToken).ConfigureAwait(false);
                return true;
            case FuzzMisbehaviour.WrongSchema:
                await output.EmitAsync(WrongSchema(batch, _plan.Noise), cancellationToken: cancellationToken).ConfigureAwait(false);
                return true;
            case FuzzMisbehaviour.InvalidProtobuf:
                Wire.SendRaw(InvalidProtobuf());
                Wire.Override(StreamOverride.AwaitCancel);
                return true;
            case FuzzMisbehaviour.Oversized:
                await output.EmitAsync(Ramp(FuzzPlan.OversizedBytes), cancellationToken: cancellationToken).ConfigureAwait(false);
                return true;
            case FuzzMisbehaviour.StatusMidStream:
                Wire.Override(StreamOverride.FailCall, new Grpc.Core.Status(_plan.Status, "fuzz: status mid-stream"));
                return true;
            case FuzzMisbehaviour.EndMidStream:
                Wire.Override(StreamOverride.EndCall);
                return true;
            case FuzzMisbehaviour.UserError:
                throw UdfException.User("fuzz: user error", "FuzzError", "Traceback: fuzz");
            case FuzzMisbehaviour.SilentMidStream:
                Wire.Override(StreamOverride.Unresponsive);
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// A UdfResponse whose serialized form is not a valid protobuf message: field 2 (the
    /// DataResponse) holds a truncated varint. The generated types cannot hold such bytes, so they
    /// are planted as the unknown fields of a message that has no field 2, then moved over.
    /// </summary>
    private static UdfResponse InvalidProtobuf()
    {
        byte[] wire = [0x12, 0x03, 0xFF, 0xFF, 0xFF];
        var carrier = Finish.Parser.ParseFrom(wire);
        var response = new UdfResponse();
        ResponseUnknownFields.SetValue(response, FinishUnknownFields.GetValue(carrier));
        return response;
    }

    private static FieldInfo UnknownFieldsOf(Type type) =>
        type.GetField("_unknownFields", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new InvalidOperationException($"{type.Name} has no _unknownFields field: the fuzz format needs Google.Protobuf's generated message layout.");

    /// <summary>1 to 64 random bytes (never a valid Arrow IPC stream: too short for a schema message).</summary>
    private static ByteString Garbage(ulong noise)
    {
        var state = noise;
        var bytes = new byte[1 + (int)(FuzzPlan.Next(ref state) % 64)];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)FuzzPlan.Next(ref state);
        }

        return UnsafeByteOperations.UnsafeWrap(bytes);
    }

    /// <summary>
    /// The frame cut inside its record batch message: after the batch's length prefix and before
    /// the end of its body, so what is left is neither a whole stream nor a shorter whole stream.
    /// </summary>
    private static ByteString Truncate(ByteString frame, ulong noise)
    {
        var span = frame.Span;

        // IPC stream: each message is 0xFFFFFFFF, an int32 metadata length, the metadata, the body.
        // The schema message has no body; the frame ends with the 8-byte end-of-stream marker.
        var schemaEnd = 8 + BinaryPrimitives.ReadInt32LittleEndian(span[4..]);
        var first = schemaEnd + 9;
        var last = frame.Length - 9;
        if (last < first)
        {
            return ByteString.CopyFrom(span[..Math.Min(span.Length, 5)]);
        }

        var cut = first + (int)(noise % (ulong)(last - first + 1));
        return ByteString.CopyFrom(span[..cut]);
    }

    /// <summary>A valid IPC stream of another schema: a renamed first field, or one int32 column.</summary>
    private static ByteString WrongSchema(ByteString frame, ulong noise)
    {
        var (schema, batches) = ArrowFrames.Read(frame);
        var batch = batches[0];
        RecordBatch wrong;
        if ((noise & 1) == 0)
        {
            var fields = schema.FieldsList.Select((f, i) => i == 0 ? new Field("fuzz_" + f.Name, f.DataType, f.IsNullable) : f);
            wrong = new RecordBatch(new Schema(fields, schema.Metadata), batch.Arrays, batch.Length);
        }
        else
        {
            var column = new Int32Array.Builder().AppendRange(Enumerable.Range(0, batch.Length)).Build();
            wrong = new RecordBatch(new Schema([new Field("fuzz_wrong", Int32Type.Default, nullable: false)], null), [column], batch.Length);
        }

        return Write(wrong.Schema, wrong);
    }

    /// <summary>The frame's batch twice in one IPC stream.</summary>
    private static ByteString Twice(ByteString frame)
    {
        var (schema, batches) = ArrowFrames.Read(frame);
        return Write(schema, batches[0], batches[0]);
    }

    private static ByteString Write(Schema schema, params RecordBatch[] batches)
    {
        using var stream = new MemoryStream();
        using (var writer = new ArrowStreamWriter(stream, schema, leaveOpen: true))
        {
            foreach (var batch in batches)
            {
                writer.WriteRecordBatch(batch);
            }

            writer.WriteEnd();
        }

        return ByteString.CopyFrom(stream.GetBuffer(), 0, (int)stream.Length);
    }

    private static ByteString Ramp(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)(i % 251);
        }

        return UnsafeByteOperations.UnsafeWrap(bytes);
    }
}
