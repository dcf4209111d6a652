using Engine.Client.Protocol;
using Google.Protobuf;

namespace Engine.ReferenceWorker.Wire;

/// <summary>Builders for every <see cref="UdfResponse"/> the worker sends, so the envelopes are built in one place.</summary>
internal static class Responses
{
    public static UdfResponse Init(ByteString? data)
    {
        var init = new InitResponse();
        if (data is not null)
        {
            init.Data = data;
        }

        return Control(new UdfControlResponse { Init = init });
    }

    public static UdfResponse InitError(ExecutionError error) =>
        Control(new UdfControlResponse { Init = new InitResponse { Error = error } });

    public static UdfResponse Data(ByteString data) => new() { Data = new DataResponse { Data = data } };

    public static UdfResponse Error(ExecutionError error) =>
        Control(new UdfControlResponse { Error = new ErrorResponse { Error = error } });

    public static UdfResponse Finish(ExecutionMetrics? metrics, ByteString? data = null, ExecutionError? error = null)
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

    public static UdfResponse Cancel(ExecutionMetrics? metrics, ExecutionError? error = null)
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
