using System.Globalization;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace Engine.ReferenceWorker.Udfs.Builtin;

/// <summary>
/// A <see cref="BuiltinProgram"/> bound to an input schema: every column reference resolved and
/// type-checked, every stage's output schema known. Runs one batch at a time through the stages.
/// </summary>
internal sealed class BuiltinPipeline
{
    private readonly List<Stage> _stages;

    private BuiltinPipeline(Schema input, List<Stage> stages, Schema output, AggregateStage? aggregate)
    {
        InputSchema = input;
        _stages = stages;
        OutputSchema = output;
        Aggregate = aggregate;
    }

    /// <summary>The schema every batch entering the pipeline has.</summary>
    public Schema InputSchema { get; }

    /// <summary>The schema of every batch the pipeline emits (for an aggregate: its one result batch).</summary>
    public Schema OutputSchema { get; }

    /// <summary>The trailing aggregate, if any; it consumes every batch and answers at Finish.</summary>
    public AggregateStage? Aggregate { get; }

    /// <summary>Resolves and type-checks <paramref name="program"/> against <paramref name="input"/>.</summary>
    /// <exception cref="BuiltinException">A column is missing or has a type the statement does not accept; the message names the position.</exception>
    public static BuiltinPipeline Bind(BuiltinProgram program, Schema input)
    {
        var stages = new List<Stage>();
        var schema = input;
        AggregateStage? aggregate = null;
        foreach (var statement in program.Statements)
        {
            Stage? stage = statement switch
            {
                GenerateStatement => null,
                SelectStatement select => SelectStage.Bind(select, schema),
                AddStatement add => AddStage.Bind(add, schema),
                UpperStatement upper => UpperStage.Bind(upper, schema),
                FilterStatement filter => FilterStage.Bind(filter, schema),
                RaiseStatement raise => RaiseStage.Bind(raise, schema),
                DelayStatement delay => new DelayStage(delay, schema),
                AggregateStatement agg => aggregate = AggregateStage.Bind(agg, schema),
                _ => throw new InvalidOperationException($"No stage for {statement.GetType().Name}."),
            };

            if (stage is not null)
            {
                stages.Add(stage);
                schema = stage.Output;
            }
        }

        return new BuiltinPipeline(input, stages, schema, aggregate);
    }

    /// <summary>
    /// Runs <paramref name="batch"/> through every stage. Returns the batch to emit, or
    /// <see langword="null"/> when no rows are left or the aggregate consumed it.
    /// </summary>
    /// <param name="batch">The batch; it must stay valid until the returned batch was emitted (stages may share its arrays).</param>
    /// <param name="origin">Where the batch came from, for errors (for example <c>input batch 3</c>).</param>
    /// <param name="cancellationToken">Interrupts a delay.</param>
    public async ValueTask<RecordBatch?> RunAsync(RecordBatch batch, string origin, CancellationToken cancellationToken)
    {
        var current = batch;
        foreach (var stage in _stages)
        {
            current = await stage.ApplyAsync(current, origin, cancellationToken).ConfigureAwait(false);
            if (current is null)
            {
                return null;
            }
        }

        return current.Length == 0 ? null : current;
    }

    /// <summary>The index of column <paramref name="column"/> in <paramref name="schema"/>.</summary>
    /// <exception cref="BuiltinException">No such column.</exception>
    internal static int Resolve(ColumnRef column, Schema schema)
    {
        for (var i = 0; i < schema.FieldsList.Count; i++)
        {
            if (string.Equals(schema.FieldsList[i].Name, column.Name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        var names = string.Join(", ", schema.FieldsList.Select(f => f.Name));
        throw new BuiltinException(column.Position, $"no column '{column.Name}'; the columns here are: {names}");
    }

    internal static string TypeName(IArrowType type) => ArrowFrames.TypeName(type);

    internal static Schema WithField(Schema schema, int index, Field field) =>
        new(schema.FieldsList.Select((f, i) => i == index ? field : f), schema.Metadata);

    /// <summary>The traceback of a user error raised by <paramref name="statement"/>.</summary>
    internal static string Traceback(Statement statement, string errorClass, string message, string detail) =>
        string.Create(
            CultureInfo.InvariantCulture,
            $"Traceback (most recent call last):\n  File \"<builtin>\", {statement.Position}, in <program>\n    {statement.Source}\n{errorClass}: {message} ({detail})");

    /// <summary>Checks that <paramref name="condition"/> compares a column with a value of a matching type.</summary>
    internal static int BindCondition(Condition condition, Schema schema)
    {
        var index = Resolve(condition.Column, schema);
        var type = schema.FieldsList[index].DataType;
        var value = condition.Value;
        var fits = type.TypeId switch
        {
            ArrowTypeId.String => value.Kind == LiteralKind.String,
            ArrowTypeId.Boolean => value.Kind == LiteralKind.Boolean,
            _ => Columns.IsNumeric(type) && value.IsNumber,
        };
        if (!fits)
        {
            var accepted = type.TypeId switch
            {
                ArrowTypeId.String => "a quoted string",
                ArrowTypeId.Boolean => "true or false",
                _ when Columns.IsNumeric(type) => "a number",
                _ => null,
            };
            throw new BuiltinException(
                value.Position,
                accepted is null
                    ? $"column '{condition.Column.Name}' is {TypeName(type)}; conditions compare int32, int64, float, double, utf8 and bool columns"
                    : $"column '{condition.Column.Name}' is {TypeName(type)}: compare it with {accepted}, not {value.Text}");
        }

        if (type.TypeId == ArrowTypeId.Boolean && condition.Op is not (Comparison.Equal or Comparison.NotEqual))
        {
            throw new BuiltinException(condition.Column.Position, $"column '{condition.Column.Name}' is bool: compare it with == or !=, not {condition.OpText}");
        }

        return index;
    }

    /// <summary>One step of the pipeline.</summary>
    internal abstract class Stage(Schema output)
    {
        public Schema Output { get; } = output;

        public abstract ValueTask<RecordBatch?> ApplyAsync(RecordBatch batch, string origin, CancellationToken cancellationToken);
    }

    private sealed class SelectStage(Schema output, int[] columns) : Stage(output)
    {
        public static SelectStage Bind(SelectStatement select, Schema schema)
        {
            var indices = new List<int>();
            foreach (var column in select.Columns)
            {
                var index = Resolve(column, schema);
                if (indices.Contains(index))
                {
                    throw new BuiltinException(column.Position, $"column '{column.Name}' is selected twice");
                }

                indices.Add(index);
            }

            return new SelectStage(new Schema(indices.Select(i => schema.FieldsList[i]), schema.Metadata), [.. indices]);
        }

        public override ValueTask<RecordBatch?> ApplyAsync(RecordBatch batch, string origin, CancellationToken cancellationToken) =>
            ValueTask.FromResult<RecordBatch?>(new RecordBatch(Output, columns.Select(batch.Column), batch.Length));
    }

    private sealed class AddStage(Schema output, AddStatement statement, int column) : Stage(output)
    {
        public static AddStage Bind(AddStatement add, Schema schema)
        {
            var index = Resolve(add.Column, schema);
            var type = schema.FieldsList[index].DataType;
            if (!Columns.IsNumeric(type))
            {
                throw new BuiltinException(add.Column.Position, $"'add' needs an int32, int64, float or double column; '{add.Column.Name}' is {TypeName(type)}");
            }

            if (Columns.IsInteger(type) && add.Constant.Kind != LiteralKind.Integer)
            {
                throw new BuiltinException(add.Constant.Position, $"column '{add.Column.Name}' is {TypeName(type)}: add a whole number, not {add.Constant.Text}");
            }

            return new AddStage(schema, add, index);
        }

        public override ValueTask<RecordBatch?> ApplyAsync(RecordBatch batch, string origin, CancellationToken cancellationToken)
        {
            var type = batch.Column(column).Data.DataType;
            var result = Columns.Add(batch.Column(column), statement.Constant, row =>
            {
                var message = $"add {statement.Column.Name} {statement.Constant.Text} overflows {TypeName(type)}";
                return UdfException.User(message, "OverflowError", Traceback(statement, "OverflowError", message, $"row {row} of {origin}"));
            });
            return ValueTask.FromResult<RecordBatch?>(Replace(batch, column, result));
        }

        private RecordBatch Replace(RecordBatch batch, int index, IArrowArray array) =>
            new(Output, batch.Arrays.Select((a, i) => i == index ? array : a), batch.Length);
    }

    private sealed class UpperStage(Schema output, int column) : Stage(output)
    {
        public static UpperStage Bind(UpperStatement upper, Schema schema)
        {
            var index = Resolve(upper.Column, schema);
            var type = schema.FieldsList[index].DataType;
            return type.TypeId == ArrowTypeId.String
                ? new UpperStage(schema, index)
                : throw new BuiltinException(upper.Column.Position, $"'upper' needs a utf8 column; '{upper.Column.Name}' is {TypeName(type)}");
        }

        public override ValueTask<RecordBatch?> ApplyAsync(RecordBatch batch, string origin, CancellationToken cancellationToken)
        {
            var upper = Columns.Upper((StringArray)batch.Column(column));
            return ValueTask.FromResult<RecordBatch?>(new RecordBatch(Output, batch.Arrays.Select((a, i) => i == column ? upper : a), batch.Length));
        }
    }

    private sealed class FilterStage(Schema output, Condition condition, int column) : Stage(output)
    {
        public static FilterStage Bind(FilterStatement filter, Schema schema)
        {
            var index = BindCondition(filter.Condition, schema);
            foreach (var field in schema.FieldsList)
            {
                if (!Columns.CanTake(field.DataType))
                {
                    throw new BuiltinException(filter.Position, $"'filter' cannot copy rows of column '{field.Name}' ({TypeName(field.DataType)}); select the columns to keep first");
                }
            }

            return new FilterStage(schema, filter.Condition, index);
        }

        public override ValueTask<RecordBatch?> ApplyAsync(RecordBatch batch, string origin, CancellationToken cancellationToken)
        {
            var matches = Columns.Matches(batch.Column(column), condition);
            var rows = new List<int>(matches.Length);
            for (var i = 0; i < matches.Length; i++)
            {
                if (matches[i])
                {
                    rows.Add(i);
                }
            }

            if (rows.Count == batch.Length)
            {
                return ValueTask.FromResult<RecordBatch?>(batch);
            }

            var kept = rows.ToArray();
            return ValueTask.FromResult<RecordBatch?>(new RecordBatch(Output, batch.Arrays.Select(a => Columns.Take(a, kept)), kept.Length));
        }
    }

    private sealed class RaiseStage(Schema output, RaiseStatement statement, int column) : Stage(output)
    {
        public static RaiseStage Bind(RaiseStatement raise, Schema schema) =>
            new(schema, raise, raise.When is null ? -1 : BindCondition(raise.When, schema));

        public override ValueTask<RecordBatch?> ApplyAsync(RecordBatch batch, string origin, CancellationToken cancellationToken)
        {
            if (statement.When is not { } when)
            {
                throw Raise($"{origin}");
            }

            var matches = Columns.Matches(batch.Column(column), when);
            var row = System.Array.IndexOf(matches, true);
            return row < 0
                ? ValueTask.FromResult<RecordBatch?>(batch)
                : throw Raise(string.Create(CultureInfo.InvariantCulture, $"{when} holds for row {row} of {origin}"));
        }

        private UdfException Raise(string detail) =>
            UdfException.User(statement.Message, statement.ErrorClass, Traceback(statement, statement.ErrorClass, statement.Message, detail));
    }

    private sealed class DelayStage(DelayStatement statement, Schema output) : Stage(output)
    {
        public override async ValueTask<RecordBatch?> ApplyAsync(RecordBatch batch, string origin, CancellationToken cancellationToken)
        {
            if (statement.Delay > TimeSpan.Zero)
            {
                // Behaviour, not synchronization: the per-batch work time of a slow UDF.
                await Task.Delay(statement.Delay, cancellationToken).ConfigureAwait(false);
            }

            return batch;
        }
    }

    /// <summary>Consumes every batch; <see cref="Result"/> is the one-row answer.</summary>
    internal sealed class AggregateStage : Stage
    {
        private readonly Aggregate[] _aggregates;
        private readonly int[] _columns;
        private readonly bool[] _integer;
        private readonly long[] _longs;
        private readonly double[] _doubles;
        private readonly bool[] _seen;
        private readonly AggregateStatement _statement;
        private long _count;

        private AggregateStage(Schema output, AggregateStatement statement, int[] columns, bool[] integer)
            : base(output)
        {
            _statement = statement;
            _aggregates = [.. statement.Aggregates];
            _columns = columns;
            _integer = integer;
            _longs = new long[columns.Length];
            _doubles = new double[columns.Length];
            _seen = new bool[columns.Length];
        }

        public static AggregateStage Bind(AggregateStatement statement, Schema schema)
        {
            var columns = new int[statement.Aggregates.Count];
            var integer = new bool[columns.Length];
            var fields = new List<Field>();
            for (var i = 0; i < columns.Length; i++)
            {
                var aggregate = statement.Aggregates[i];
                if (aggregate.Column is not { } column)
                {
                    columns[i] = -1;
                    fields.Add(new Field(aggregate.OutputName, Int64Type.Default, nullable: false));
                    continue;
                }

                columns[i] = Resolve(column, schema);
                var type = schema.FieldsList[columns[i]].DataType;
                if (!Columns.IsNumeric(type))
                {
                    throw new BuiltinException(column.Position, $"'{aggregate.Kind.ToString().ToLowerInvariant()}' needs an int32, int64, float or double column; '{column.Name}' is {TypeName(type)}");
                }

                integer[i] = Columns.IsInteger(type);
                fields.Add(new Field(aggregate.OutputName, integer[i] ? Int64Type.Default : DoubleType.Default, nullable: true));
            }

            return new AggregateStage(new Schema(fields, null), statement, columns, integer);
        }

        public override ValueTask<RecordBatch?> ApplyAsync(RecordBatch batch, string origin, CancellationToken cancellationToken)
        {
            _count += batch.Length;
            for (var a = 0; a < _aggregates.Length; a++)
            {
                if (_columns[a] < 0)
                {
                    continue;
                }

                var array = batch.Column(_columns[a]);
                for (var row = 0; row < array.Length; row++)
                {
                    if (array.IsValid(row))
                    {
                        Accumulate(a, array, row, origin);
                    }
                }
            }

            return ValueTask.FromResult<RecordBatch?>(null);
        }

        /// <summary>The values in output order: <c>long</c>, <c>double</c> or null (no non-null input).</summary>
        public IReadOnlyList<object?> Values()
        {
            var values = new object?[_aggregates.Length];
            for (var a = 0; a < _aggregates.Length; a++)
            {
                // Boxed one by one: a single conditional would widen every long to double.
                values[a] = _columns[a] < 0 ? (object)_count
                    : !_seen[a] ? null
                    : _integer[a] ? (object)_longs[a]
                    : (object)_doubles[a];
            }

            return values;
        }

        /// <summary>The one-row result batch.</summary>
        public RecordBatch Result()
        {
            var values = Values();
            return new RecordBatch(Output, values.Select((v, i) => Columns.FromValues(Output.FieldsList[i].DataType, [v])), 1);
        }

        /// <summary>The results as text, for <c>FinishResponse.data</c>: <c>count=10 sum_x=45</c>.</summary>
        public string Describe() => string.Join(' ', Values().Select((v, i) => string.Create(
            CultureInfo.InvariantCulture,
            $"{_aggregates[i].OutputName}={v switch { null => "null", double d => d.ToString("R", CultureInfo.InvariantCulture), _ => Convert.ToString(v, CultureInfo.InvariantCulture) }}")));

        private void Accumulate(int a, IArrowArray array, int row, string origin)
        {
            var kind = _aggregates[a].Kind;
            var first = !_seen[a];
            _seen[a] = true;
            if (_integer[a])
            {
                var value = Columns.Long(array, row);
                try
                {
                    _longs[a] = first ? value : kind switch
                    {
                        AggregateKind.Sum => checked(_longs[a] + value),
                        AggregateKind.Min => Math.Min(_longs[a], value),
                        _ => Math.Max(_longs[a], value),
                    };
                }
                catch (OverflowException)
                {
                    var message = $"{_aggregates[a].OutputName} overflows int64";
                    throw UdfException.User(message, "OverflowError", Traceback(_statement, "OverflowError", message, $"row {row} of {origin}"));
                }
            }
            else
            {
                var value = Columns.Double(array, row);
                _doubles[a] = first ? value : kind switch
                {
                    AggregateKind.Sum => _doubles[a] + value,
                    AggregateKind.Min => Math.Min(_doubles[a], value),
                    _ => Math.Max(_doubles[a], value),
                };
            }
        }
    }
}
