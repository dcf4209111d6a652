using System.Text;

namespace Engine.Client;

/// <summary>
/// A worker specification cannot be used: its file cannot be read, its content is neither valid
/// protobuf JSON nor binary protobuf, or it breaks a rule of the protocol. <see cref="Problems"/>
/// lists every problem found, each naming the field by its JSON path and saying what to do.
/// </summary>
/// <remarks><see cref="WorkerException.Worker"/> is the specification's file path, or
/// <c>worker specification</c> for one given in memory: no worker exists yet.</remarks>
public sealed class WorkerSpecificationException : WorkerException
{
    /// <summary>Creates the exception for the problems of one specification.</summary>
    /// <param name="source">Where the specification came from (a file path), or <see langword="null"/>.</param>
    /// <param name="problems">Every problem found; at least one.</param>
    public WorkerSpecificationException(string? source, IReadOnlyList<string> problems)
        : this(source, problems, null)
    {
    }

    /// <summary>Creates the exception for the problems of one specification, with the cause.</summary>
    /// <param name="source">Where the specification came from (a file path), or <see langword="null"/>.</param>
    /// <param name="problems">Every problem found; at least one.</param>
    /// <param name="innerException">The underlying failure (an I/O or parse error), or <see langword="null"/>.</param>
    public WorkerSpecificationException(string? source, IReadOnlyList<string> problems, Exception? innerException)
        : base(source ?? "worker specification", Compose(source, problems), innerException)
    {
        Source = source;
        Problems = problems?.ToArray() ?? [];
    }

    /// <summary>Where the specification came from (its file path), or <see langword="null"/> when it was given in memory.</summary>
    public new string? Source { get; }

    /// <summary>Every problem found, each a sentence naming the field by its JSON path and saying what to do.</summary>
    public IReadOnlyList<string> Problems { get; }

    private static string Compose(string? source, IReadOnlyList<string>? problems)
    {
        var where = source is null ? "The worker specification" : $"The worker specification '{source}'";
        if (problems is null || problems.Count == 0)
        {
            return where + " is invalid.";
        }

        if (problems.Count == 1)
        {
            return $"{where} is invalid: {problems[0]}";
        }

        var text = new StringBuilder();
        text.Append(where).Append(" is invalid (").Append(problems.Count).Append(" problems):");
        foreach (var problem in problems)
        {
            text.AppendLine().Append("  - ").Append(problem);
        }

        return text.ToString();
    }
}
