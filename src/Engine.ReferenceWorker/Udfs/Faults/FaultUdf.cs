using Engine.Client.Protocol;
using Engine.ReferenceWorker.Hosting;
using Google.Protobuf;
using Grpc.Core;

namespace Engine.ReferenceWorker.Udfs.Faults;

/// <summary>
/// Format <c>fault</c>: the payload text (<c>name[:argument]</c>, see <see cref="FaultMode"/>)
/// makes the worker misbehave in one precise way, so the engine's handling of broken workers
/// (docs/conformance.md section A) can be reproduced against a real process. Unless the fault says
/// otherwise the UDF echoes its input.
/// </summary>
internal sealed class FaultUdf : Udf
{
    public const string Format = "fault";

    private FaultMode _mode;
    private IWireControl? _wire;
    private long _batches;
    private ByteString? _bigOutput;

    private IWireControl Wire => _wire ?? throw new InvalidOperationException("InitAsync has not run.");

    public override ValueTask<ByteString?> InitAsync(UdfInitContext context, CancellationToken cancellationToken)
    {
        if (!FaultMode.TryParse(context.Payload.ToStringUtf8(), out _mode, out var error))
        {
            throw UdfException.Worker(error);
        }

        _wire = context.Wire;
        switch (_mode.Kind)
        {
            case FaultKind.ErrorInsteadOfInit:
                Wire.SendRaw(UdfResponses.Error(ExecutionErrors.Worker("fault: error instead of init")));
                Wire.Override(StreamOverride.AwaitCancel);
                break;
            case FaultKind.InitError:
                throw UdfException.User("fault: init failed", "InitError", "Traceback: fault init");
            case FaultKind.DataBeforeInit:
                Wire.SendRaw(UdfResponses.Data(ByteString.CopyFromUtf8("fault: data before init")));
                break;
            case FaultKind.FinishBeforeInit:
                Wire.SendRaw(UdfResponses.Finish(metrics: null));
                Wire.Override(StreamOverride.Terminated);
                break;
            case FaultKind.CancelBeforeInit:
                Wire.SendRaw(UdfResponses.Cancel(metrics: null));
                Wire.Override(StreamOverride.Terminated);
                break;
            case FaultKind.EndBeforeInit:
                Wire.Override(StreamOverride.EndCall);
                break;
            case FaultKind.EmptyEnvelope:
                Wire.SendRaw(new UdfResponse());
                Wire.Override(StreamOverride.AwaitCancel);
                break;
            case FaultKind.Silent:
                Wire.Override(StreamOverride.Unresponsive);
                break;
            case FaultKind.BigOutput:
                // Built once per stream and shared by every output message: deterministic bytes
                // (a repeating 0..250 ramp) a test can verify without keeping a copy.
                var bytes = new byte[_mode.Argument];
                for (var i = 0; i < bytes.Length; i++)
                {
                    bytes[i] = (byte)(i % 251);
                }

                _bigOutput = UnsafeByteOperations.UnsafeWrap(bytes);
                break;
        }

        return base.InitAsync(context, cancellationToken);
    }

    public override ValueTask StartAsync(IUdfOutput output, CancellationToken cancellationToken) =>
        _mode.Kind == FaultKind.ErrorAfterInit
            ? throw UdfException.User("fault: error after init")
            : ValueTask.CompletedTask;

    public override async ValueTask ProcessAsync(ByteString batch, IUdfOutput output, CancellationToken cancellationToken)
    {
        _batches++;
        switch (_mode.Kind)
        {
            case FaultKind.FinishEarly:
                // Pretends the input is complete although the engine never sent Finish: the
                // engine must fail the stream rather than silently drop its remaining input.
                Wire.SendRaw(UdfResponses.Finish(metrics: null));
                Wire.Override(StreamOverride.EndCall);
                return;
            case FaultKind.UserError:
                throw UdfException.User("boom in UDF", "UdfError", "Traceback (most recent call last): ...");
            case FaultKind.BlankUserError:
                // Every string of the error empty: the engine must say that nothing was said.
                throw UdfException.User(string.Empty, string.Empty, string.Empty);
            case FaultKind.EscapesUserError:
                throw UdfException.User(HostileText.Message, HostileText.ErrorClass, HostileText.Traceback);
            case FaultKind.CancelCallbackError:
                throw UdfException.User("data-phase boom");
            case FaultKind.StatusError:
                Wire.Override(StreamOverride.FailCall, new Status(StatusCode.Internal, "fault: status error"));
                return;
            case FaultKind.Exit:
                // A crash mid-session: no host shutdown, no terminators, no socket clean-up.
                Console.Error.Flush();
                Libc.ExitImmediately((int)_mode.Argument);
                return;
            case FaultKind.Slow:
                await Task.Delay(TimeSpan.FromMilliseconds(_mode.Argument), cancellationToken).ConfigureAwait(false);
                await output.EmitAsync(batch, cancellationToken: cancellationToken).ConfigureAwait(false);
                return;
            case FaultKind.BigOutput:
                await output.EmitAsync(_bigOutput!, cancellationToken: cancellationToken).ConfigureAwait(false);
                return;
            case FaultKind.StopReading when _batches > _mode.Argument:
                // Wedged mid-stream: the UDF takes no more input and sends nothing, while the
                // process (and its heartbeat) stays healthy. Input backs up until HTTP/2 flow
                // control stops the engine's writes. Only a cancellation (the call's end) frees it.
                await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                return;
            default:
                await output.EmitAsync(batch, cancellationToken: cancellationToken).ConfigureAwait(false);
                return;
        }
    }

    public override ValueTask<ByteString?> FinishAsync(IUdfOutput output, CancellationToken cancellationToken)
    {
        switch (_mode.Kind)
        {
            case FaultKind.FinishError:
                throw UdfException.User("fault: finish callback failed", "FinishCallbackError");
            case FaultKind.IgnoreFinishAndCancel:
                Wire.Override(StreamOverride.Unresponsive);
                return ValueTask.FromResult<ByteString?>(null);
            default:
                return ValueTask.FromResult<ByteString?>(ByteString.CopyFromUtf8($"fault {_mode.Kind}: {_batches} batches"));
        }
    }

    public override ValueTask CancelAsync(string? reason, CancellationToken cancellationToken)
    {
        switch (_mode.Kind)
        {
            case FaultKind.CancelCallbackError:
                throw UdfException.Worker("fault: cancel callback failed");
            case FaultKind.IgnoreCancel or FaultKind.IgnoreFinishAndCancel:
                Wire.Override(StreamOverride.Unresponsive);
                break;
        }

        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// The strings of <c>escapes-user-error</c>: terminal escape sequences (clear the screen, move the
/// cursor, set the window title, a bell), C1 controls, lone surrogates and a long multi-line
/// traceback, as a careless or hostile worker may send. An engine must never copy them raw to a
/// terminal.
/// </summary>
internal static class HostileText
{
    public const string Message = "boom\u001b[2J\u001b[H\u001b]0;owned\u0007 after \u009b31m red \ud800 end\r\nsecond line";

    public const string ErrorClass = "Evil\u001b[31mClass\u0000";

    public static string Traceback { get; } = string.Join('\n', Enumerable.Range(0, 300).Select(i => $"frame {i} \u001b[1A\u001b[K\u0008\u0008 \u007f"));
}
