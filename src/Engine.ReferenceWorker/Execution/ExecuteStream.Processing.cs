using System.Diagnostics;
using Engine.Client.Protocol;
using Engine.ReferenceWorker.Udfs;
using Google.Protobuf;

namespace Engine.ReferenceWorker.Execution;

/// <summary>The data phase and termination: DataRequest, Finish, Cancel and what follows them.</summary>
internal sealed partial class ExecuteStream
{
    private ValueTask OnDataPhaseAsync(StreamInput input)
    {
        if (input.Kind == StreamInputKind.End)
        {
            // Rule 10: an engine that stops sending without Finish or Cancel has cancelled.
            return CancelAsync("the engine half-closed without Finish or Cancel");
        }

        var request = input.Request!;
        if (request.RequestCase == UdfRequest.RequestOneofCase.Data)
        {
            return ProcessAsync(request.Data.Data);
        }

        switch (request.Control?.ControlCase)
        {
            case UdfControlRequest.ControlOneofCase.Finish:
                return FinishAsync();
            case UdfControlRequest.ControlOneofCase.Cancel:
                return CancelAsync(request.Control.Cancel.Reason);
            case UdfControlRequest.ControlOneofCase.Init:
                SendError(ExecutionErrors.Protocol("a second Init arrived; Init is sent exactly once per stream"));
                break;
            case UdfControlRequest.ControlOneofCase.Payload:
                SendError(ExecutionErrors.Protocol("a PayloadChunk arrived after InitResponse; chunks belong to the init handshake only"));
                break;
            default:
                SendError(ExecutionErrors.Protocol($"got {WireText.Name(request)}"));
                break;
        }

        return ValueTask.CompletedTask;
    }

    private ValueTask ProcessAsync(ByteString batch)
    {
        if (_work.IsCancellationRequested)
        {
            // A Cancel (or shutdown) is already on its way: nothing after it is worth computing.
            return ValueTask.CompletedTask;
        }

        _metrics.BatchIn(batch.Length);
        return _settings.BatchDelay > TimeSpan.Zero
            ? ProcessLaterAsync(batch)
            : RunHookAsync((s, token) => s._udf!.ProcessAsync(batch, s._port, token));
    }

    /// <summary>A slow worker (<c>--batch-delay-ms</c>): waits before processing the batch, as a UDF that computes would.</summary>
    private async ValueTask ProcessLaterAsync(ByteString batch)
    {
        try
        {
            await Task.Delay(_settings.BatchDelay, _work.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_work.IsCancellationRequested)
        {
            return;
        }

        await RunHookAsync((s, token) => s._udf!.ProcessAsync(batch, s._port, token)).ConfigureAwait(false);
    }

    /// <summary>Runs a data-phase hook: a <see cref="UdfException"/> becomes ErrorResponse as it is; any other exception a WorkerError.</summary>
    private async ValueTask RunHookAsync(Func<ExecuteStream, CancellationToken, ValueTask> hook)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await hook(this, _work.Token).ConfigureAwait(false);
        }
        catch (UdfException ex)
        {
            SendError(ex.Error);
            return;
        }
        catch (OperationCanceledException) when (_work.IsCancellationRequested)
        {
            // Interrupted by Cancel, shutdown or a broken call; the loop handles whichever it was.
            return;
        }
        catch (Exception ex)
        {
            SendError(ExecutionErrors.Worker("the UDF failed: " + ex.Message, ex.ToString()));
            return;
        }
        finally
        {
            _metrics.Worked(started);
        }

        ApplyOverride();
    }

    private async ValueTask FinishAsync()
    {
        // Rule 6: a FinishResponse means every input was processed and all its output sent. Once a
        // Cancel (or shutdown) interrupted or skipped any work, only CancelResponse is true.
        if (_work.IsCancellationRequested)
        {
            _state = StreamState.AwaitingCancel;
            return;
        }

        ByteString? data = null;
        ExecutionError? error = null;
        var started = Stopwatch.GetTimestamp();
        try
        {
            data = await _udf!.FinishAsync(_port, _work.Token).ConfigureAwait(false);
        }
        catch (UdfException ex)
        {
            error = ex.Error;
        }
        catch (OperationCanceledException) when (_work.IsCancellationRequested)
        {
            // Rule 6: a Cancel that arrives before FinishResponse went out gets CancelResponse.
            _state = StreamState.AwaitingCancel;
            return;
        }
        catch (Exception ex)
        {
            error = ExecutionErrors.Worker("the UDF's finish failed: " + ex.Message, ex.ToString());
        }
        finally
        {
            _metrics.Worked(started);
        }

        if (ApplyOverride())
        {
            return;
        }

        if (_work.IsCancellationRequested)
        {
            // The Cancel arrived before FinishResponse went out: rule 6 asks for CancelResponse.
            _state = StreamState.AwaitingCancel;
            return;
        }

        if (error is not null)
        {
            LogError(error);
        }

        SendTerminator(UdfResponses.Finish(_metrics.Snapshot(), data, error), finished: true);
    }

    private ValueTask OnAwaitingCancelAsync(StreamInput input)
    {
        if (input.Kind == StreamInputKind.End)
        {
            return CancelAsync("the engine half-closed instead of sending Cancel");
        }

        var request = input.Request!;
        if (request.Control?.ControlCase == UdfControlRequest.ControlOneofCase.Cancel)
        {
            return CancelAsync(request.Control.Cancel.Reason);
        }

        // Rule 6: after an error the engine must send Cancel; data (and Finish) until then are dropped.
        return ValueTask.CompletedTask;
    }

    /// <summary>Answers a Cancel (or what counts as one) with CancelResponse, after the UDF's cancel hook.</summary>
    private async ValueTask CancelAsync(string? reason)
    {
        var error = await RunCancelHookAsync(reason, _context.CancellationToken).ConfigureAwait(false);
        if (_context.CancellationToken.IsCancellationRequested)
        {
            _state = StreamState.Ended;
            return;
        }

        if (ApplyOverride())
        {
            return;
        }

        if (error is not null)
        {
            LogError(error);
        }

        SendTerminator(UdfResponses.Cancel(_metrics.Snapshot(), error), finished: false);
    }

    /// <summary>The UDF's cancel hook, once, and only for a UDF whose init succeeded. Returns its error, if any.</summary>
    private async ValueTask<ExecutionError?> RunCancelHookAsync(string? reason, CancellationToken cancellationToken)
    {
        if (!_udfStarted || _cancelHookRan)
        {
            return null;
        }

        _cancelHookRan = true;
        var started = Stopwatch.GetTimestamp();
        try
        {
            await _udf!.CancelAsync(reason, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (UdfException ex)
        {
            return ex.Error;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception ex)
        {
            return ExecutionErrors.Worker("the UDF's cancel failed: " + ex.Message, ex.ToString());
        }
        finally
        {
            _metrics.Worked(started);
        }
    }

    private void OnTerminated(StreamInput input)
    {
        // Nothing is ever sent after the terminator; the call ends once the engine half-closes.
        if (input.Kind == StreamInputKind.End)
        {
            _state = StreamState.Ended;
        }
    }
}
