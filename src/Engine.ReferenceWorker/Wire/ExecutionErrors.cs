using Engine.Client.Protocol;

namespace Engine.ReferenceWorker.Wire;

/// <summary>Builders for the three kinds of <see cref="ExecutionError"/>.</summary>
internal static class ExecutionErrors
{
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

    public static ExecutionError Protocol(string message) => new() { Protocol = new ProtocolError { Message = message } };

    /// <summary>The error's kind and message, for logs.</summary>
    public static string Describe(ExecutionError error) => error.KindCase switch
    {
        ExecutionError.KindOneofCase.User => "UserError: " + error.User.Message,
        ExecutionError.KindOneofCase.Worker => "WorkerError: " + error.Worker.Message,
        ExecutionError.KindOneofCase.Protocol => "ProtocolError: " + error.Protocol.Message,
        _ => "an ExecutionError with no kind set",
    };
}
