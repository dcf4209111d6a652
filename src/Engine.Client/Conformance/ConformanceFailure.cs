namespace Engine.Client.Conformance;

/// <summary>A check's verdict when the worker did not behave: the message is the result's message.</summary>
internal sealed class ConformanceFailure : Exception
{
    public ConformanceFailure()
    {
    }

    public ConformanceFailure(string message)
        : base(message)
    {
    }

    public ConformanceFailure(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>A check that cannot run with the given options.</summary>
internal sealed class ConformanceSkip : Exception
{
    public ConformanceSkip()
    {
    }

    public ConformanceSkip(string message)
        : base(message)
    {
    }

    public ConformanceSkip(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
