using Google.Protobuf;

namespace Engine.Client.Protocol;

/// <summary>
/// Builders of a worker's messages on an Execute stream (<see cref="UdfResponse"/> envelopes),
/// so that every worker written in .NET (the reference worker, scripted test workers) builds them
/// one way. Optional fields are left unset when their argument is <see langword="null"/>.
/// </summary>
public static class UdfResponses
{
    /// <summary>A successful <c>InitResponse</c> (docs/protocol.md rule 4).</summary>
    /// <param name="data">Output produced by the init, or <see langword="null"/> (default) for none.</param>
    /// <returns>A new envelope.</returns>
    public static UdfResponse Init(ByteString? data = null)
    {
        var init = new InitResponse();
        if (data is not null)
        {
            init.Data = data;
        }

        return Control(new UdfControlResponse { Init = init });
    }

    /// <summary>An <c>InitResponse</c> carrying the error that failed the init (docs/protocol.md rule 7).</summary>
    /// <param name="error">The error; see <see cref="ExecutionErrors"/>.</param>
    /// <returns>A new envelope.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="error"/> is <see langword="null"/>.</exception>
    public static UdfResponse InitError(ExecutionError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return Control(new UdfControlResponse { Init = new InitResponse { Error = error } });
    }

    /// <summary>A <c>DataResponse</c> holding one output batch.</summary>
    /// <param name="data">The batch in the session's data format.</param>
    /// <returns>A new envelope.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> is <see langword="null"/>.</exception>
    public static UdfResponse Data(ByteString data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return new() { Data = new DataResponse { Data = data } };
    }

    /// <summary>An <c>ErrorResponse</c> (docs/protocol.md rule 7: the engine answers with Cancel).</summary>
    /// <param name="error">The error; see <see cref="ExecutionErrors"/>.</param>
    /// <returns>A new envelope.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="error"/> is <see langword="null"/>.</exception>
    public static UdfResponse Error(ExecutionError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return Control(new UdfControlResponse { Error = new ErrorResponse { Error = error } });
    }

    /// <summary>A <c>FinishResponse</c>, the terminator after the engine's Finish (docs/protocol.md rule 6).</summary>
    /// <param name="metrics">The stream's cumulative metrics, or <see langword="null"/> for none.</param>
    /// <param name="data">Final output, or <see langword="null"/> for none.</param>
    /// <param name="error">An error that ended the execution at finish, or <see langword="null"/> for none.</param>
    /// <returns>A new envelope.</returns>
    public static UdfResponse Finish(ExecutionMetrics? metrics = null, ByteString? data = null, ExecutionError? error = null)
    {
        var finish = new FinishResponse();
        if (metrics is not null)
        {
            finish.Metrics = metrics;
        }

        if (data is not null)
        {
            finish.Data = data;
        }

        if (error is not null)
        {
            finish.Error = error;
        }

        return Control(new UdfControlResponse { Finish = finish });
    }

    /// <summary>A <c>CancelResponse</c>, the terminator after the engine's Cancel (docs/protocol.md rule 6).</summary>
    /// <param name="metrics">The stream's cumulative metrics, or <see langword="null"/> for none.</param>
    /// <param name="error">An error met while cancelling, or <see langword="null"/> for none.</param>
    /// <returns>A new envelope.</returns>
    public static UdfResponse Cancel(ExecutionMetrics? metrics = null, ExecutionError? error = null)
    {
        var cancel = new CancelResponse();
        if (metrics is not null)
        {
            cancel.Metrics = metrics;
        }

        if (error is not null)
        {
            cancel.Error = error;
        }

        return Control(new UdfControlResponse { Cancel = cancel });
    }

    private static UdfResponse Control(UdfControlResponse control) => new() { Control = control };
}
