using System.Globalization;

namespace Engine.ReferenceWorker.Udfs.Builtin;

/// <summary>A place in the program text, 1-based.</summary>
internal readonly record struct SourcePosition(int Line, int Column)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"line {Line}, column {Column}");
}

/// <summary>A parsed <c>builtin</c> program: its statements in order (see docs/builtin-udfs.md).</summary>
internal sealed record BuiltinProgram(IReadOnlyList<Statement> Statements)
{
    /// <summary>The leading <c>generate</c>, when the program is a generator.</summary>
    public GenerateStatement? Generator => Statements.Count > 0 ? Statements[0] as GenerateStatement : null;

    /// <summary>The trailing <c>aggregate</c>, when the program aggregates.</summary>
    public AggregateStatement? Aggregate => Statements.Count > 0 ? Statements[^1] as AggregateStatement : null;
}

/// <summary>One statement, with where it starts and its source line (for errors and tracebacks).</summary>
internal abstract record Statement(SourcePosition Position, string Source);

/// <summary><c>generate &lt;rows&gt; [batch &lt;size&gt;]</c>: the sample dataset, produced with no input.</summary>
internal sealed record GenerateStatement(SourcePosition Position, string Source, long Rows, int BatchSize) : Statement(Position, Source);

/// <summary><c>select &lt;column&gt;, ...</c>: keep these columns, in this order.</summary>
internal sealed record SelectStatement(SourcePosition Position, string Source, IReadOnlyList<ColumnRef> Columns) : Statement(Position, Source);

/// <summary><c>add &lt;column&gt; &lt;number&gt;</c>: add a constant to a numeric column.</summary>
internal sealed record AddStatement(SourcePosition Position, string Source, ColumnRef Column, Literal Constant) : Statement(Position, Source);

/// <summary><c>upper &lt;column&gt;</c>: upper-case a string column.</summary>
internal sealed record UpperStatement(SourcePosition Position, string Source, ColumnRef Column) : Statement(Position, Source);

/// <summary><c>filter &lt;condition&gt;</c>: keep the rows where the condition holds.</summary>
internal sealed record FilterStatement(SourcePosition Position, string Source, Condition Condition) : Statement(Position, Source);

/// <summary><c>raise &lt;Class&gt; "&lt;message&gt;" [when &lt;condition&gt;]</c>: a user error.</summary>
internal sealed record RaiseStatement(SourcePosition Position, string Source, string ErrorClass, string Message, Condition? When) : Statement(Position, Source);

/// <summary><c>delay &lt;duration&gt;</c>: wait this long for every batch.</summary>
internal sealed record DelayStatement(SourcePosition Position, string Source, TimeSpan Delay) : Statement(Position, Source);

/// <summary><c>aggregate &lt;aggregate&gt;, ...</c>: consume everything, answer once at Finish.</summary>
internal sealed record AggregateStatement(SourcePosition Position, string Source, IReadOnlyList<Aggregate> Aggregates) : Statement(Position, Source);

/// <summary>A column named in the program.</summary>
internal sealed record ColumnRef(string Name, SourcePosition Position);

/// <summary>The comparison operators of conditions.</summary>
internal enum Comparison
{
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// <summary><c>&lt;column&gt; &lt;op&gt; &lt;literal&gt;</c>.</summary>
internal sealed record Condition(ColumnRef Column, Comparison Op, string OpText, Literal Value)
{
    public override string ToString() => $"{Column.Name} {OpText} {Value.Text}";
}

/// <summary>The kinds of literal values.</summary>
internal enum LiteralKind
{
    Integer,
    Float,
    String,
    Boolean,
}

/// <summary>A literal value: its kind, its value and its source text.</summary>
internal sealed record Literal(LiteralKind Kind, long Integer, double Float, string? String, bool Boolean, string Text, SourcePosition Position)
{
    /// <summary>The value as a double, for numeric literals.</summary>
    public double AsDouble => Kind == LiteralKind.Integer ? Integer : Float;

    public bool IsNumber => Kind is LiteralKind.Integer or LiteralKind.Float;
}

/// <summary>The aggregate functions.</summary>
internal enum AggregateKind
{
    Count,
    Sum,
    Min,
    Max,
}

/// <summary><c>count</c>, or <c>sum|min|max &lt;column&gt;</c>.</summary>
internal sealed record Aggregate(AggregateKind Kind, ColumnRef? Column, SourcePosition Position)
{
    /// <summary>The output column's name: <c>count</c>, <c>sum_x</c>, <c>min_x</c>, <c>max_x</c>.</summary>
    public string OutputName => Column is null ? "count" : $"{Kind.ToString().ToLowerInvariant()}_{Column.Name}";
}

/// <summary>A program that does not parse, or does not fit its data; the message names the position.</summary>
internal sealed class BuiltinException : Exception
{
    public BuiltinException()
    {
    }

    public BuiltinException(string message)
        : base(message)
    {
    }

    public BuiltinException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public BuiltinException(SourcePosition position, string message)
        : base($"{position}: {message}")
    {
    }
}
