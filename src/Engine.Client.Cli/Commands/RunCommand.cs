using System.CommandLine;
using System.Text;
using Engine.Client.Cli.Operations;
using Engine.Client.Cli.Output;
using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli.Commands;

/// <summary><c>engine-client run</c>: one UDF session on a worker.</summary>
internal static class RunCommand
{
    /// <summary>Output rows (or batches) shown as a table when no <c>--output</c> is given.</summary>
    public const int PreviewRows = 20;

    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);

    public static Command Create(CliContext context)
    {
        var worker = CommonOptions.Workers("The worker's address: unix:///path/to/socket or http://host:port. Repeat it to place the session on a fleet of workers. Give this, --fleet or --spec.");
        var fleet = CommonOptions.Fleet();
        var spec = new Option<string?>("--spec") { Description = "A worker specification file: a worker is launched from it for the run and stopped after. Give this or --worker.", HelpName = "file" };
        var format = new Option<string>("--format") { Description = "The payload format tag (Init.udf.format), for example echo, fault or builtin.", HelpName = "tag", Required = true };
        var payload = new Option<string?>("--payload") { Description = "The UDF payload as text (sent as UTF-8). At most one of --payload and --payload-file; none sends an empty payload.", HelpName = "text" };
        var payloadFile = new Option<string?>("--payload-file") { Description = "A file whose bytes are the UDF payload.", HelpName = "path" };
        var input = new Option<string?>("--input") { Description = "Input batches: an Arrow IPC file or stream (detected), or - for an Arrow IPC stream on stdin. None: no input batches.", HelpName = "arrow file|-" };
        var output = new Option<string?>("--output") { Description = "Where the output goes: an Arrow IPC file, or - for an Arrow IPC stream on stdout. None: the output is summarized (and shown as a table when small).", HelpName = "arrow file|-" };
        var sessionConf = new Option<string[]>("--session-conf") { Description = "A worker-private setting (Init.session_conf), key=value. Repeatable; the last value of a key wins.", HelpName = "key=value" };
        var taskContext = new Option<string[]>("--task-context") { Description = "A per-task identifier (Init.task_context), key=value. Repeatable; the last value of a key wins.", HelpName = "key=value" };
        var chunkSize = new Option<long?>("--chunk-size")
        {
            Description = "Payload chunk size, for example 65536, 64KiB or 1MiB. A payload larger than it is sent in PayloadChunks of this size. Default: chunk only when the payload does not fit one message, in 1 MiB chunks.",
            HelpName = "bytes",
            CustomParser = r => CommonOptions.ParseByteSize(r, "--chunk-size"),
        };
        var maxMessageSize = new Option<long?>("--max-message-size")
        {
            Description = "The largest message the worker accepts. Default 4MiB (the gRPC default); the reference worker accepts 128MiB.",
            HelpName = "bytes",
            CustomParser = r => CommonOptions.ParseByteSize(r, "--max-message-size"),
        };
        var timeout = CommonOptions.Timeout("Bound on the whole run (launch, Init, data, Finish), for example 500ms, 30s, 2m; also the cap of the session's protocol timeouts. Default: none (the protocol timeouts of 30 s still apply).");
        var keepAlive = CommonOptions.KeepAlive();
        var json = CommonOptions.Json("Print one JSON object on stdout instead of the summary.");
        var noProgress = new Option<bool>("--no-progress") { Description = "No progress lines on stderr." };
        var credentials = new CredentialOptions();

        var command = new Command("run", "Run one UDF session on a worker: Init with the payload, stream the input, read the output, Finish. Exit 0 finished, 1 the worker reported an error, 2 bad usage, input or output (a file or stdout that cannot be written), 3 transport failure or timeout, 130 interrupted.")
        {
            worker, fleet, spec, format, payload, payloadFile, input, output, sessionConf, taskContext, chunkSize, maxMessageSize, timeout, keepAlive, json, noProgress,
        };
        credentials.AddTo(command);

        command.SetAction((parse, _) => CliApp.GuardAsync(context, parse, async () =>
        {
            var jsonOutput = parse.GetValue(json);
            var outputPath = parse.GetValue(output);
            var target = ResolveTarget(parse.GetValue(worker), parse.GetValue(fleet), parse.GetValue(spec));
            var request = new RunRequest
            {
                Worker = target.Worker,
                Fleet = target.Fleet,
                Specification = target.Specification,
                Format = RequireFormat(parse.GetValue(format)),
                Payload = CommonOptions.ReadPayload(parse.GetValue(payload), parse.GetValue(payloadFile)),
                SessionConf = KeyValues.ParseAll(parse.GetValue(sessionConf), "--session-conf"),
                TaskContext = KeyValues.ParseAll(parse.GetValue(taskContext), "--task-context"),
                ChunkSize = CommonOptions.ByteSize(parse.GetValue(chunkSize), "--chunk-size"),
                MaxMessageSize = CommonOptions.ByteSize(parse.GetValue(maxMessageSize), "--max-message-size") ?? new WorkerClientOptions().Connection.MaxSendMessageSize,
                Timeout = parse.GetValue(timeout),
                KeepAlive = parse.GetValue(keepAlive),
                Credentials = credentials.Read(parse),
                PreviewLimit = PreviewRows,
            };
            CheckOptions(request);
            if (outputPath == "-" && jsonOutput)
            {
                throw new UsageException("--output - writes the Arrow output to stdout, where --json writes its object; write the output to a file instead, or drop --json.");
            }

            if (outputPath is not null and not "-" && LoadOutputs.IsStandardOutput(outputPath))
            {
                throw new UsageException(jsonOutput
                    ? $"--output '{outputPath}' is this command's standard output, where --json writes its object: the two would be mixed; give --output a file of its own."
                    : $"--output '{outputPath}' is this command's standard output, where its summary goes: the two would be mixed; give --output - for an Arrow stream on stdout (the summary then goes to stderr), or a file.");
            }

            var state = new RunState { Stage = "reading the input's schema" };
            using var clock = RunClock.Start(request.Timeout, state);
            using var notice = context.Signals.Interrupt.Register(() => context.Console.Error.WriteLine(state.Session is null
                ? "engine-client: interrupted."
                : "engine-client: interrupted; cancelling the session (interrupt again to stop waiting for the worker's acknowledgement)."));
            RunReport report;
            IRunData? data;
            try
            {
                using var opening = CancellationTokenSource.CreateLinkedTokenSource(context.Signals.Interrupt, clock.Deadline);
                data = await RunDataFactory.OpenAsync(parse.GetValue(input), outputPath, request, context.Console, opening.Token);
            }
            catch (OperationCanceledException) when (context.Signals.Interrupt.IsCancellationRequested || clock.Deadline.IsCancellationRequested)
            {
                // Still waiting for the input's schema on stdin: nothing was sent.
                data = null;
            }

            if (data is null)
            {
                report = RunOperation.StoppedBeforeInput(request, clock, context.Signals.Interrupt.IsCancellationRequested);
            }
            else
            {
                await using var dataScope = data;
                await using var progress = parse.GetValue(noProgress) ? null : ProgressReporter.Start(state, context.Console.Error, ProgressInterval);
                report = await RunOperation.ExecuteAsync(request, data, state, clock, context.Signals.Interrupt, context.Signals.Force);
            }

            if (jsonOutput)
            {
                await context.Console.Out.WriteLineAsync(RunReportJson.Write(report));
            }
            else
            {
                // With the Arrow output on stdout, the summary goes to stderr.
                var renderer = outputPath == "-" ? new PlainRenderer(context.Console.Error) : Renderer.For(context.Console);
                RunReportText.Write(report, renderer);
            }

            if (report.ExitCode != ExitCodes.Success)
            {
                // One line for whoever reads only stderr.
                var reason = report.Error is { } error ? $": {CliApp.OneLine(RunReportText.Message(error))}" : string.Empty;
                await context.Console.Error.WriteLineAsync($"engine-client run: {RunReportJson.OutcomeName(report.Outcome)} (exit {report.ExitCode}){reason}");
            }

            return report.ExitCode;
        }));
        return command;
    }

    private static (WorkerAddress? Worker, FleetTargets? Fleet, WorkerSpecification? Specification) ResolveTarget(WorkerAddress[]? addresses, string? fleet, string? specPath)
    {
        var targets = FleetTargets.From(addresses, fleet, required: false);
        if (targets is not null && specPath is not null)
        {
            throw new UsageException($"{(fleet is null ? "--worker" : "--fleet")} and --spec are both given; give exactly one: --worker <address> for a running worker (repeatable, or --fleet), or --spec <file> to launch one.");
        }

        if (targets is not null)
        {
            return targets.IsSingle ? (targets.Workers[0], null, null) : (null, targets, null);
        }

        if (specPath is null)
        {
            throw new UsageException("no worker given; give exactly one of --worker <address> (a running worker; repeat it for a fleet), --fleet <dns:///name:port | file> or --spec <file> (launch one).");
        }

        return (null, null, SpecificationFiles.LoadValid(specPath, "--spec"));
    }

    private static string RequireFormat(string? format) => string.IsNullOrWhiteSpace(format)
        ? throw new UsageException("--format is empty; give the payload format tag, for example --format echo.")
        : format;

    private static void CheckOptions(RunRequest request) => CheckClientOptions(request.BuildClientOptions(), request.ChunkSize, request.MaxMessageSize);

    /// <summary>
    /// Checks the client options built from <c>--chunk-size</c> and <c>--max-message-size</c> (as
    /// <c>run</c> and <c>load</c> take them): one the library refuses is bad usage, in the options' words.
    /// </summary>
    internal static void CheckClientOptions(WorkerClientOptions options, long? chunkSize, long maxMessageSize)
    {
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex) when (ex.Message.StartsWith(nameof(SessionOptions.PayloadChunkSize), StringComparison.Ordinal))
        {
            throw new UsageException($"--chunk-size {chunkSize} does not fit the worker's message limit of {maxMessageSize} bytes (--max-message-size) with its framing; give a chunk size of at most {maxMessageSize - 64} bytes.", ex);
        }
        catch (ArgumentException ex) when (ex.Message.StartsWith(nameof(WorkerConnectionOptions.MaxSendMessageSize), StringComparison.Ordinal))
        {
            throw new UsageException($"--max-message-size {maxMessageSize} is too small; give at least 64KiB.", ex);
        }
    }
}
