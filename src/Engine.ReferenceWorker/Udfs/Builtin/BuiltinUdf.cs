using System.Globalization;
using Apache.Arrow;
using Engine.Client.Protocol;
using Engine.Samples;
using Google.Protobuf;

namespace Engine.ReferenceWorker.Udfs.Builtin;

/// <summary>
/// Format <c>builtin</c>: the payload is a small program (docs/builtin-udfs.md) run over Arrow
/// batches: maps (<c>select</c>, <c>add</c>, <c>upper</c>), <c>filter</c>, an <c>aggregate</c>
/// answered at Finish, a <c>generate</c> source that needs no input, a per-batch <c>delay</c> and
/// user errors (<c>raise</c>). Every data message in and out is one Arrow IPC stream.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Init: a program that does not parse fails with <c>UserError(SyntaxError)</c> naming the
/// line and column. When the input schema is known at Init (<c>Init.input_schema</c>, or a
/// generator), the program is type-checked then (<c>UserError(AnalysisError)</c>) and
/// <c>InitResponse.data</c> is the output schema as a schema-only IPC stream; otherwise that
/// happens on the first input batch and <c>InitResponse.data</c> is unset. A declared
/// <c>Init.output_schema</c> must match the program's output.</item>
/// <item>Data: batches that are not Arrow, or whose schema differs from <c>Init.input_schema</c>
/// (or from the first batch), are a <c>ProtocolError</c>. A batch with no rows left is not emitted.</item>
/// <item>Finish: <c>FinishResponse.data</c> is <c>rows_in=N rows_out=M</c>, followed by the
/// aggregate's results (<c>count=N sum_x=S</c>) when there is one, which also comes as one final
/// one-row batch before the FinishResponse.</item>
/// <item>Metrics: <c>rows_in</c> and <c>rows_out</c> count Arrow rows (zero before any batch).</item>
/// </list>
/// </remarks>
internal sealed class BuiltinUdf : Udf
{
    public const string Format = "builtin";

    private readonly ArrowFrames _frames = new();
    private BuiltinProgram? _program;
    private BuiltinPipeline? _pipeline;
    private Schema? _declaredInput;
    private Schema? _declaredOutput;
    private long _dataRequests;
    private long _rowsIn;
    private long _rowsOut;

    private BuiltinProgram Program => _program ?? throw new InvalidOperationException("InitAsync has not run.");

    public override ValueTask<ByteString?> InitAsync(UdfInitContext context, CancellationToken cancellationToken)
    {
        try
        {
            _program = BuiltinParser.Parse(context.Payload.ToStringUtf8());
        }
        catch (BuiltinException ex)
        {
            throw UdfException.User($"the builtin program does not parse: {ex.Message}", "SyntaxError");
        }

        _declaredInput = ReadDeclaredSchema(context.Init.HasInputSchema ? context.Init.InputSchema : null, "input_schema");
        _declaredOutput = ReadDeclaredSchema(context.Init.HasOutputSchema ? context.Init.OutputSchema : null, "output_schema");
        var source = _program.Generator is not null ? SampleData.Schema : _declaredInput;
        if (source is null)
        {
            // Type-checked against the first batch's schema instead.
            return ValueTask.FromResult<ByteString?>(null);
        }

        Bind(source, Program.Generator is not null ? "the generated data" : "Init.input_schema");
        return ValueTask.FromResult<ByteString?>(ArrowFrames.WriteSchema(_pipeline!.OutputSchema));
    }

    public override async ValueTask StartAsync(IUdfOutput output, CancellationToken cancellationToken)
    {
        // Rows are measured from the start: zero until a batch comes.
        output.RecordInputRows(0);
        if (Program.Generator is not { } generate)
        {
            return;
        }

        long index = 0;
        foreach (var batch in SampleData.CreateBatches(generate.Rows, generate.BatchSize))
        {
            using (batch)
            {
                await RunAsync(batch, string.Create(CultureInfo.InvariantCulture, $"generated batch {index}"), output, cancellationToken).ConfigureAwait(false);
            }

            index++;
        }
    }

    public override async ValueTask ProcessAsync(ByteString batch, IUdfOutput output, CancellationToken cancellationToken)
    {
        var index = _dataRequests++;
        if (Program.Generator is { } generate)
        {
            throw UdfException.User(
                string.Create(CultureInfo.InvariantCulture, $"'generate' takes no input, but DataRequest {index} arrived"),
                "ValueError",
                BuiltinPipeline.Traceback(generate, "ValueError", "'generate' takes no input", "send Finish without data"));
        }

        Schema schema;
        List<RecordBatch> batches;
        try
        {
            (schema, batches) = ArrowFrames.Read(batch);
        }
        catch (InvalidDataException ex)
        {
            throw new UdfException(ExecutionErrors.Protocol(string.Create(CultureInfo.InvariantCulture, $"DataRequest {index} is {ex.Message}")));
        }

        var expected = _declaredInput ?? _pipeline?.InputSchema;
        if (expected is not null && ArrowFrames.FindDifference(expected, schema) is { } difference)
        {
            var against = _declaredInput is not null ? "Init.input_schema" : "the schema of DataRequest 0";
            throw new UdfException(ExecutionErrors.Protocol(string.Create(CultureInfo.InvariantCulture, $"DataRequest {index} does not match {against}: {difference}")));
        }

        if (_pipeline is null)
        {
            Bind(schema, "the schema of DataRequest 0");
        }

        foreach (var record in batches)
        {
            output.RecordInputRows(record.Length);
            _rowsIn += record.Length;
            await RunAsync(record, string.Create(CultureInfo.InvariantCulture, $"input batch {index}"), output, cancellationToken).ConfigureAwait(false);
        }
    }

    public override async ValueTask<ByteString?> FinishAsync(IUdfOutput output, CancellationToken cancellationToken)
    {
        var summary = string.Create(CultureInfo.InvariantCulture, $"rows_in={_rowsIn} rows_out={_rowsOut}");
        if (_pipeline?.Aggregate is { } aggregate)
        {
            var result = aggregate.Result();
            await EmitAsync(result, output, cancellationToken).ConfigureAwait(false);
            summary = string.Create(CultureInfo.InvariantCulture, $"rows_in={_rowsIn} rows_out={_rowsOut} {aggregate.Describe()}");
        }

        return ByteString.CopyFromUtf8(summary);
    }

    public override ValueTask DisposeAsync()
    {
        _frames.Dispose();
        return base.DisposeAsync();
    }

    private static Schema? ReadDeclaredSchema(ByteString? bytes, string field)
    {
        if (bytes is null)
        {
            return null;
        }

        try
        {
            return ArrowFrames.ReadSchema(bytes);
        }
        catch (InvalidDataException ex)
        {
            throw new UdfException(ExecutionErrors.Protocol($"Init.{field} is {ex.Message}"));
        }
    }

    private void Bind(Schema input, string against)
    {
        try
        {
            _pipeline = BuiltinPipeline.Bind(Program, input);
        }
        catch (BuiltinException ex)
        {
            throw UdfException.User($"the builtin program does not fit {against}: {ex.Message}", "AnalysisError");
        }

        if (_declaredOutput is not null && ArrowFrames.FindDifference(_declaredOutput, _pipeline.OutputSchema) is { } difference)
        {
            throw UdfException.User($"the builtin program's output does not match Init.output_schema: {difference}", "AnalysisError");
        }
    }

    private async ValueTask RunAsync(RecordBatch batch, string origin, IUdfOutput output, CancellationToken cancellationToken)
    {
        if (await _pipeline!.RunAsync(batch, origin, cancellationToken).ConfigureAwait(false) is { } result)
        {
            await EmitAsync(result, output, cancellationToken).ConfigureAwait(false);
        }
    }

    private ValueTask EmitAsync(RecordBatch result, IUdfOutput output, CancellationToken cancellationToken)
    {
        _rowsOut += result.Length;
        return output.EmitAsync(_frames.Write(result, _pipeline!.OutputSchema), result.Length, cancellationToken);
    }
}
