using System.Text;
using Engine.Client.Protocol;
using Google.Protobuf;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>Builders for worker responses in scripts.</summary>
public static class Responses
{
    public static UdfResponse InitOk(ByteString? data = null)
    {
        var init = new InitResponse();
        if (data is not null)
        {
            init.Data = data;
        }

        return new UdfResponse { Control = new UdfControlResponse { Init = init } };
    }

    public static UdfResponse InitError(ExecutionError error) =>
        new() { Control = new UdfControlResponse { Init = new InitResponse { Error = error } } };

    public static UdfResponse Data(string text) => Data(ByteString.CopyFromUtf8(text));

    public static UdfResponse Data(ByteString data) => new() { Data = new DataResponse { Data = data } };

    public static UdfResponse Error(ExecutionError error) =>
        new() { Control = new UdfControlResponse { Error = new ErrorResponse { Error = error } } };

    public static UdfResponse Finish(ExecutionError? error = null, ByteString? data = null, ExecutionMetrics? metrics = null)
    {
        var finish = new FinishResponse();
        if (error is not null)
        {
            finish.Error = error;
        }

        if (data is not null)
        {
            finish.Data = data;
        }

        if (metrics is not null)
        {
            finish.Metrics = metrics;
        }

        return new UdfResponse { Control = new UdfControlResponse { Finish = finish } };
    }

    public static UdfResponse Cancel(ExecutionError? error = null, ExecutionMetrics? metrics = null)
    {
        var cancel = new CancelResponse();
        if (error is not null)
        {
            cancel.Error = error;
        }

        if (metrics is not null)
        {
            cancel.Metrics = metrics;
        }

        return new UdfResponse { Control = new UdfControlResponse { Cancel = cancel } };
    }

    public static UdfResponse EmptyEnvelope() => new();

    public static ExecutionError User(string message, string? errorClass = null, string? traceback = null)
    {
        var user = new UserError { Message = message };
        if (errorClass is not null)
        {
            user.ErrorClass = errorClass;
        }

        if (traceback is not null)
        {
            user.Traceback = traceback;
        }

        return new ExecutionError { User = user };
    }

    public static ExecutionError Worker(string message, string? traceback = null)
    {
        var worker = new WorkerError { Message = message };
        if (traceback is not null)
        {
            worker.Traceback = traceback;
        }

        return new ExecutionError { Worker = worker };
    }

    public static ByteString Bytes(string text) => ByteString.CopyFrom(Encoding.UTF8.GetBytes(text));
}
