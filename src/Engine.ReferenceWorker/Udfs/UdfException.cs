using Engine.Client.Protocol;

namespace Engine.ReferenceWorker.Udfs;

/// <summary>A structured error raised by a UDF hook; the stream puts <see cref="Error"/> on the wire as it is.</summary>
internal sealed class UdfException : Exception
{
    public UdfException()
        : this("UDF failed")
    {
    }

    public UdfException(string message)
        : this(ExecutionErrors.Worker(message))
    {
    }

    public UdfException(string message, Exception innerException)
        : base(message, innerException)
    {
        Error = ExecutionErrors.Worker(message, innerException.ToString());
    }

    public UdfException(ExecutionError error)
        : base(WireText.Describe(error))
    {
        Error = error;
    }

    /// <summary>The error exactly as it goes on the wire.</summary>
    public ExecutionError Error { get; }

    /// <summary>An error raised by user code.</summary>
    public static UdfException User(string message, string? errorClass = null, string? traceback = null) =>
        new(ExecutionErrors.User(message, errorClass, traceback));

    /// <summary>An error of the worker implementation itself.</summary>
    public static UdfException Worker(string message, string? traceback = null) =>
        new(ExecutionErrors.Worker(message, traceback));
}
