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

    public ConformanceFailure(string message, IReadOnlyList<string> sent, IReadOnlyList<string> received)
        : base(message)
    {
        Sent = sent;
        Received = received;
    }

    /// <summary>What the kit sent on the failing call.</summary>
    public IReadOnlyList<string> Sent { get; } = [];

    /// <summary>What the worker sent back on the failing call.</summary>
    public IReadOnlyList<string> Received { get; } = [];
}

/// <summary>A check the profile gives no behaviour for: not applicable, never failed.</summary>
internal sealed class ConformanceNotApplicable : Exception
{
    public ConformanceNotApplicable()
    {
    }

    public ConformanceNotApplicable(string message)
        : base(message)
    {
    }

    public ConformanceNotApplicable(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ConformanceNotApplicable(string profileKey, string what)
        : base($"not applicable: the profile gives no {what} (profile key '{profileKey}')")
    {
        ProfileKey = profileKey;
    }

    /// <summary>The profile key that would enable the check.</summary>
    public string? ProfileKey { get; }
}
