using System.CommandLine;
using System.Globalization;
using System.Text;
using Engine.Client.Cli.Operations;
using Engine.Client.Cli.Output;
using Engine.Client.Cli.Parsing;
using Engine.Client.Load;
using Spectre.Console;

namespace Engine.Client.Cli.Commands;

/// <summary><c>engine-client load</c>: a load test against workers; <c>load merge</c>: shards' results combined.</summary>
internal static class LoadCommand
{
    public static Command Create(CliContext context)
    {
        var worker = new Option<WorkerAddress[]>("--worker")
        {
            Description = "A running worker: unix:///path/to/socket or http://host:port. Repeatable: the workers form a fleet; each session is placed on the least loaded worker and, when its stream fails before the worker answered Init, retried on another (see docs/fleets.md).",
            HelpName = "address",
            CustomParser = ParseAddresses,
        };
        var fleet = CommonOptions.Fleet();
        var spec = new Option<string?>("--spec") { Description = "A worker specification: --workers workers are launched from it for the test and stopped after.", HelpName = "file" };
        var workers = new Option<int?>("--workers") { Description = "With --spec: how many workers to launch (default 1).", HelpName = "N" };
        var format = new Option<string?>("--format") { Description = "The payload format tag (Init.udf.format), for example echo or builtin. Required unless every scenario of --scenario names its own.", HelpName = "tag" };
        var payload = new Option<string?>("--payload") { Description = "The UDF payload as text (UTF-8).", HelpName = "text" };
        var payloadFile = new Option<string?>("--payload-file") { Description = "A file whose bytes are the UDF payload.", HelpName = "path" };
        var input = new Option<string?>("--input") { Description = "Input batches from an Arrow IPC file or stream, sent by every session. Or generate them with --rows/--batch-rows/--batches.", HelpName = "arrow file" };
        var rows = new Option<long?>("--rows") { Description = "Generated input: rows per session.", HelpName = "N", CustomParser = r => TypedValues.ParseWhole(r, "--rows", 1, long.MaxValue) };
        var batchRows = new Option<int?>("--batch-rows") { Description = "Generated input: rows per batch (default 1024).", HelpName = "N", CustomParser = r => (int?)TypedValues.ParseWhole(r, "--batch-rows", 1, int.MaxValue) };
        var batches = new Option<int?>("--batches") { Description = "Generated input: batches per session.", HelpName = "N", CustomParser = r => (int?)TypedValues.ParseWhole(r, "--batches", 1, int.MaxValue) };
        var columns = new Option<string?>("--columns") { Description = "Generated input: the columns, name:type separated by commas; types int32, int64, float64, bool, string, string(N), binary, binary(N). Default x:int64.", HelpName = "columns" };
        var scenario = new Option<string?>("--scenario") { Description = "A JSON file of weighted scenarios (see docs/load-testing.md); fields it leaves out take the command line's values.", HelpName = "file.json" };
        var cancelShare = new Option<double?>("--cancel-share") { Description = "The share of sessions (0 to 1) cancelled on purpose at a random point, to load the cancel path. Default 0.", HelpName = "share" };
        var taskContext = new Option<string[]>("--task-context") { Description = "Init.task_context, key=value; {session} in a value becomes the session's number. Repeatable.", HelpName = "key=value" };
        var sessionConf = new Option<string[]>("--session-conf") { Description = "Init.session_conf, key=value. Repeatable.", HelpName = "key=value" };
        var chunkSize = new Option<long?>("--chunk-size") { Description = "Payload chunk size (as for run).", HelpName = "bytes", CustomParser = r => CommonOptions.ParseByteSize(r, "--chunk-size") };
        var maxMessageSize = new Option<long?>("--max-message-size") { Description = "The largest message the worker accepts (default 4MiB).", HelpName = "bytes", CustomParser = r => CommonOptions.ParseByteSize(r, "--max-message-size") };
        var keepAlive = CommonOptions.KeepAlive();
        var concurrency = new Option<int?>("--concurrency") { Description = "Closed model: this many concurrent sessions, each starting when the previous ended. Default 1 when --rate is not given; 0 to 100000.", HelpName = "N", CustomParser = r => (int?)TypedValues.ParseWhole(r, "--concurrency", 0, 100_000) };
        var rate = new Option<double?>("--rate") { Description = "Open model: sessions started per second on a fixed schedule, whatever the workers do; latency counts from each session's intended start. At most 1e9.", HelpName = "R" };
        var arrivals = new Option<string?>("--arrivals") { Description = "Open model: how starts are spaced, uniform (evenly, the default) or poisson (exponential gaps of mean 1/rate, seeded by --seed).", HelpName = "uniform|poisson" };
        var stages = new Option<string?>("--stages") { Description = "A JSON file of stages ramping the target (rate or concurrency): [{\"duration\": \"30s\", \"target\": 100}, ...]. Replaces --duration.", HelpName = "file.json" };
        var duration = new Option<TimeSpan?>("--duration") { Description = "How long to start sessions after the warm-up, for example 30s or 5m.", HelpName = "duration", CustomParser = r => CommonOptions.ParseDuration(r, "--duration") };
        var sessions = new Option<long?>("--sessions") { Description = "How many measured sessions to start at most.", HelpName = "N", CustomParser = r => TypedValues.ParseWhole(r, "--sessions", 1, long.MaxValue) };
        var warmup = new Option<TimeSpan?>("--warmup") { Description = "A warm-up at the start target, excluded from every figure, for example 5s; 0 (the default) for none.", HelpName = "duration", CustomParser = r => CommonOptions.ParseDuration(r, "--warmup", allowZero: true) };
        var drain = new Option<TimeSpan?>("--drain-timeout") { Description = "How long sessions still running at the end may take before they are cancelled (default 30s).", HelpName = "duration", CustomParser = r => CommonOptions.ParseDuration(r, "--drain-timeout") };
        var scheduleTolerance = new Option<TimeSpan?>("--schedule-tolerance") { Description = "Open model: how late a start may begin and still count as on schedule (default 10ms); a later one counts as behind schedule.", HelpName = "duration", CustomParser = r => CommonOptions.ParseDuration(r, "--schedule-tolerance", allowZero: true) };
        var maxInFlight = new Option<int?>("--max-in-flight") { Description = "Open model: the most sessions in flight (default 10000); a start due beyond it waits for one to end and runs behind schedule, its latency counted from its intended start; starts still waiting at the end are counted as not started.", HelpName = "N", CustomParser = r => (int?)TypedValues.ParseWhole(r, "--max-in-flight", 1, int.MaxValue) };
        var seed = new Option<int?>("--seed") { Description = "Seed of the scenario picks and cancel points (default random, reported).", HelpName = "N" };
        var shard = new Option<string?>("--shard") { Description = "Run shard i of N (i from 0 to N-1): this process takes 1/N of the rate or concurrency.", HelpName = "i/N" };
        var json = CommonOptions.Json("Print the JSON summary on stdout instead of the readable summary.");
        var reportHtml = new Option<string?>("--report-html") { Description = "Write a self-contained HTML report (plots, workers, configuration).", HelpName = "file" };
        var csv = new Option<string?>("--csv") { Description = "Write latency per phase and the intervals as CSV.", HelpName = "file" };
        var hdrLog = new Option<string?>("--hdr-log") { Description = "Write every interval's histograms as an HdrHistogram log (values in microseconds, tagged by phase).", HelpName = "file" };
        var intervals = new Option<string?>("--intervals") { Description = "Write each interval as one JSON object per line.", HelpName = "file.jsonl" };
        var outputDir = new Option<string?>("--output-dir") { Description = "Write every report into this directory: result.json, report.html, result.csv, histograms.hlog, intervals.jsonl (with a shard suffix for --shard).", HelpName = "dir" };
        var threshold = new Option<string[]>("--threshold") { Description = "A condition that must hold, for example 'session.p99 < 50ms' or 'errors < 0.1%'; a failed one exits 4. Repeatable.", HelpName = "expr" };
        var noProgress = new Option<bool>("--no-progress") { Description = "No progress on stderr." };

        var command = new Command("load", "Load-test workers: closed (--concurrency) or open (--rate) model, stages, weighted scenarios; honest latencies per phase, throughput, errors, live progress, reports and thresholds. Exit 0 done and every threshold passed, 2 bad usage (or a report that could not be written, when nothing else failed), 3 no session succeeded (transport), 1 no session succeeded (worker errors), 4 a threshold failed, 130 interrupted.")
        {
            worker, fleet, spec, workers, format, payload, payloadFile, input, rows, batchRows, batches, columns, scenario, cancelShare, taskContext, sessionConf,
            chunkSize, maxMessageSize, keepAlive, concurrency, rate, arrivals, stages, duration, sessions, warmup, drain, maxInFlight, scheduleTolerance, seed, shard,
            json, reportHtml, csv, hdrLog, intervals, outputDir, threshold, noProgress,
        };
        command.Subcommands.Add(CreateMerge(context));

        command.SetAction((parse, _) => CliApp.GuardAsync(context, parse, async () =>
        {
            var thresholds = ParseThresholds(parse.GetValue(threshold));
            var addresses = parse.GetValue(worker) ?? [];
            var specPath = parse.GetValue(spec);
            var fleetName = parse.GetValue(fleet);
            var targetCount = (addresses.Length > 0 ? 1 : 0) + (specPath is null ? 0 : 1) + (fleetName is null ? 0 : 1);
            if (targetCount != 1)
            {
                throw new UsageException(targetCount == 0
                    ? "no target given; give --worker <address> (repeatable), --fleet <name>, or --spec <file> with --workers N."
                    : "several kinds of target given; give one of --worker (repeatable), --fleet and --spec.");
            }

            // --fleet, or --worker given more than once: a WorkerFleet places the sessions (least
            // loaded, retried elsewhere before commit). One --worker: a client.
            var fleetTargets = fleetName is not null || addresses.Length > 1 ? FleetTargets.From(addresses, fleetName, required: true) : null;

            if (parse.GetValue(workers) is { } n && specPath is null)
            {
                throw new UsageException("--workers is for --spec (how many workers to launch); with --worker, repeat --worker.");
            }

            var workerCount = WorkerLaunches.CheckCount(parse.GetValue(workers), "--workers");

            var maxMessage = CommonOptions.ByteSize(parse.GetValue(maxMessageSize), "--max-message-size") ?? new WorkerConnectionOptions().MaxSendMessageSize;
            var chunk = CommonOptions.ByteSize(parse.GetValue(chunkSize), "--chunk-size");
            var options = BuildOptions(parse, rate, concurrency, stages, duration, sessions, warmup, drain, maxInFlight, seed, shard);
            if (parse.GetValue(scheduleTolerance) is { } tolerance)
            {
                if (options.Model != LoadModelKind.Open)
                {
                    throw new UsageException("--schedule-tolerance is for the open model (--rate): the closed model has no schedule.");
                }

                options.ScheduleTolerance = tolerance;
            }
            options.Arrivals = ParseArrivals(parse.GetValue(arrivals), options.Model);
            CheckPoissonRate(options);
            var defaults = new ScenarioDefaults(
                parse.GetValue(format) is { } f ? (string.IsNullOrWhiteSpace(f) ? throw new UsageException("--format is empty; give the payload format tag, for example --format echo.") : f) : null,
                CommonOptions.ReadPayload(parse.GetValue(payload), parse.GetValue(payloadFile)),
                InputFactory(parse.GetValue(input), parse.GetValue(rows), parse.GetValue(batchRows), parse.GetValue(batches), parse.GetValue(columns)),
                KeyValues.ParseAll(parse.GetValue(taskContext), "--task-context"),
                KeyValues.ParseAll(parse.GetValue(sessionConf), "--session-conf"),
                parse.GetValue(cancelShare) is { } share ? (share is >= 0 and <= 1 ? share : throw new UsageException($"--cancel-share {share.ToString(CultureInfo.InvariantCulture)} is out of range; give a share from 0 to 1.")) : 0,
                chunk,
                maxMessage);
            // The run's own input files: no output may overwrite one.
            var inputs = new List<(string What, string Path)>();
            AddInput(inputs, "--spec", specPath);
            AddInput(inputs, "--fleet", fleetName is not null && !fleetName.StartsWith("dns:", StringComparison.OrdinalIgnoreCase) ? fleetName : null);
            AddInput(inputs, "--payload-file", parse.GetValue(payloadFile));
            AddInput(inputs, "--input", parse.GetValue(input));
            AddInput(inputs, "--stages", parse.GetValue(stages));
            var scenarioPath = parse.GetValue(scenario);
            AddInput(inputs, "--scenario", scenarioPath);
            if (scenarioPath is not null)
            {
                foreach (var s in LoadFiles.ReadScenarios(scenarioPath, defaults, inputs))
                {
                    options.Scenarios.Add(s);
                }
            }
            else
            {
                var tag = defaults.Format ?? throw new UsageException("--format is missing; give the payload format tag, for example --format echo (or scenarios with --scenario).");
                var single = new LoadScenario("default", tag, defaults.Payload)
                {
                    Input = defaults.Input(),
                    CancelShare = defaults.CancelShare,
                    ChunkSize = chunk,
                    MaxMessageSize = maxMessage,
                };
                foreach (var (k, v) in defaults.TaskContext)
                {
                    single.TaskContext[k] = v;
                }

                foreach (var (k, v) in defaults.SessionConf)
                {
                    single.SessionConf[k] = v;
                }

                options.Scenarios.Add(single);
            }

            options.Labels["command"] = CommandLine(context);
            foreach (var target in TargetNames(addresses, fleetTargets, specPath))
            {
                options.Targets.Add(target);
            }

            options.SessionOptions = new SessionOptions { PayloadChunkSize = chunk };
            var clientOptions = new WorkerClientOptions
            {
                Connection = new WorkerConnectionOptions { MaxSendMessageSize = maxMessage },
                Session = options.SessionOptions,
            };
            if (parse.GetValue(keepAlive) is { } keep)
            {
                clientOptions.Connection.KeepAlivePingDelay = keep;
            }

            RunCommand.CheckClientOptions(clientOptions, chunk, maxMessage);
            try
            {
                options.Validate();
            }
            catch (ArgumentException ex)
            {
                throw new UsageException(ex.Message, ex);
            }

            var specification = specPath is null ? null : SpecificationFiles.LoadValid(specPath, "--spec");

            // The outputs last of the checks: --output-dir is made here, and a command refused
            // for anything else leaves no empty directory behind.
            var outputs = LoadOutputs.Resolve(parse.GetValue(outputDir), parse.GetValue(reportHtml), parse.GetValue(csv), parse.GetValue(hdrLog), parse.GetValue(intervals), options.Shard, inputs, parse.GetValue(json));
            var stderrIsTerminal = !Console.IsErrorRedirected && Hosting.StandardStreams.IsUsable(2);
            return await LoadOperation.RunAsync(context, new LoadPlan(addresses, fleetTargets, specification, workerCount, clientOptions, options, thresholds, outputs,
                parse.GetValue(json), parse.GetValue(noProgress), stderrIsTerminal));
        }));
        return command;
    }

    private static Command CreateMerge(CliContext context)
    {
        var files = new Argument<string[]>("result.json") { Description = "The JSON results of the shards (load --json or --output-dir).", Arity = ArgumentArity.ZeroOrMore };
        var json = CommonOptions.Json("Print the merged JSON summary on stdout instead of the readable summary.");
        var reportHtml = new Option<string?>("--report-html") { Description = "Write the merged HTML report.", HelpName = "file" };
        var csv = new Option<string?>("--csv") { Description = "Write the merged CSV.", HelpName = "file" };
        var threshold = new Option<string[]>("--threshold") { Description = "A condition checked on the merge; a failed one exits 4. Repeatable.", HelpName = "expr" };
        var command = new Command("merge", "Merge the JSON results of several shards into one, exactly: every percentile equals that of one histogram of all values. Exit 0, 2 bad usage, an unreadable result or a report that could not be written (the others are written), 4 a threshold failed (whatever else).")
        {
            files, json, reportHtml, csv, threshold,
        };
        command.SetAction((parse, _) => CliApp.GuardAsync(context, parse, async () =>
        {
            if ((parse.GetValue(files) ?? []).Length == 0)
            {
                throw new UsageException("no result given; give the result.json files to merge (of load --json or --output-dir), for example engine-client load merge shard-0.json shard-1.json.");
            }

            var thresholds = ParseThresholds(parse.GetValue(threshold));

            // Before any file is read: a report that cannot be written, or that would overwrite a
            // result given to merge, is bad usage, found now.
            (string Option, string? Path)[] outputs = [("--report-html", parse.GetValue(reportHtml)), ("--csv", parse.GetValue(csv))];
            LoadOutputs.CheckDistinct(outputs);
            LoadOutputs.CheckNotInputs(outputs, [.. (parse.GetValue(files) ?? []).Select(path => ("the result", path))]);
            LoadOutputs.CheckNotStandardOutput(outputs, parse.GetValue(json) ? "its JSON object" : "its summary");
            InputFiles.CheckWritable(parse.GetValue(reportHtml), "--report-html");
            InputFiles.CheckWritable(parse.GetValue(csv), "--csv");
            var results = new List<LoadResult>();
            foreach (var path in parse.GetValue(files) ?? [])
            {
                var text = Encoding.UTF8.GetString(InputFiles.ReadAllBytes(path, "result"));
                try
                {
                    results.Add(LoadReports.FromJson(text));
                }
                catch (FormatException ex) when (ex.InnerException is System.Text.Json.JsonException syntax)
                {
                    throw new UsageException($"result '{path}' {JsonSyntax.Describe(syntax)}", ex);
                }
                catch (FormatException ex)
                {
                    throw new UsageException($"result '{path}' is not a load test result (write one with load --json or --output-dir): {ex.Message.Replace("not a load test result: ", string.Empty, StringComparison.Ordinal)}", ex);
                }
            }

            var paths = parse.GetValue(files) ?? [];
            if (LoadResult.DuplicateRuns(results) is { Count: > 0 } duplicates)
            {
                // The same sessions would be counted twice: no report is better than a false one.
                var (first, second, run) = duplicates[0];
                throw new UsageException(paths[first] == paths[second]
                    ? $"result '{paths[first]}' is given twice: merging it would count its sessions twice. Give each shard's result once."
                    : $"results '{paths[first]}' and '{paths[second]}' both cover run {run} (the same shard's result twice, or a merge given with one of its parts): merging them would count its sessions twice. Give each shard's result once.");
            }

            foreach (var difference in LoadResult.Differences(results))
            {
                // Merging is exact for like runs; unlike ones are merged all the same, with a word.
                var values = string.Join("; ", difference.Values.Select((v, i) => (Value: v, Path: paths[i])).GroupBy(p => p.Value, StringComparer.Ordinal)
                    .Select(g => $"{g.Key} in {string.Join(", ", g.Select(p => p.Path))}"));
                await context.Console.Error.WriteLineAsync(CliApp.OneLine(
                    $"engine-client load merge: warning: the results differ in {difference.Setting} ({values}): they are not shards of one run, and the merged figures pool runs that measured different things."));
            }

            // What the run identifiers cannot check: a result without one (hand-made or edited),
            // and one shard given in two runs (a shard run again, or runs not meant as shards).
            for (var i = 0; i < results.Count; i++)
            {
                if (results[i].Runs.Count == 0)
                {
                    await context.Console.Error.WriteLineAsync(CliApp.OneLine(
                        $"engine-client load merge: warning: result '{paths[i]}' has no run identifier (runs): whether it repeats another result cannot be checked, and a run given twice counts its sessions twice."));
                }
            }

            foreach (var shard in results.SelectMany((r, i) => r.Shards.Distinct(StringComparer.Ordinal).Select(s => (Shard: s, Path: paths[i])))
                .GroupBy(p => p.Shard, StringComparer.Ordinal).Where(g => g.Count() > 1))
            {
                await context.Console.Error.WriteLineAsync(CliApp.OneLine(
                    $"engine-client load merge: warning: shard {shard.Key} is in {string.Join(", ", shard.Select(p => $"'{p.Path}'"))}: they are not the shards of one run, and the merged figures add them up as if they had run side by side."));
            }

            // The shards of one run are i/N for every i from 0 to N-1, once each: a set of other
            // counts, or one that lacks a shard, is merged all the same, with a word.
            var parsed = results.SelectMany((r, i) => r.Shards.Select(s => (Text: s, Shard: TryParseShard(s), Path: paths[i]))).ToList();
            var counts = parsed.Where(p => p.Shard is not null).GroupBy(p => p.Shard!.Value.Count).ToList();
            if (counts.Count > 1)
            {
                await context.Console.Error.WriteLineAsync(CliApp.OneLine(
                    $"engine-client load merge: warning: the results are shards of different counts ({string.Join("; ", parsed.Select(p => $"{p.Text} in '{p.Path}'"))}): they are not the shards of one run, and the merged figures add them up as if they had run side by side."));
            }
            else if (counts.Count == 1 && counts[0].Key > 1)
            {
                var count = counts[0].Key;
                var missing = Enumerable.Range(0, count).Except(counts[0].Select(p => p.Shard!.Value.Index)).ToList();
                if (missing.Count > 0)
                {
                    await context.Console.Error.WriteLineAsync(CliApp.OneLine(string.Create(CultureInfo.InvariantCulture,
                        $"engine-client load merge: warning: {(missing.Count == 1 ? "shard" : "shards")} {string.Join(", ", missing.Select(i => $"{i}/{count}"))} {(missing.Count == 1 ? "is" : "are")} missing: the merge holds {count - missing.Count} of {count} shards, so its counts and rates are those of part of the run.")));
                }
            }

            var merged = LoadResult.Merge(results).WithLabels([new("mergeCommand", CommandLine(context))]).WithThresholds(thresholds);
            // Each report on its own: one that cannot be written is told below, the others (and
            // the summary on stdout) are written all the same.
            var failed = LoadOutputs.WriteReports(
                ("--report-html", parse.GetValue(reportHtml), () => LoadReports.ToHtml(merged)),
                ("--csv", parse.GetValue(csv), () => LoadReports.ToCsv(merged)));

            if (parse.GetValue(json))
            {
                await context.Console.Out.WriteLineAsync(LoadReports.ToJson(merged));
            }
            else
            {
                LoadSummaryText.Write(merged, Renderer.For(context.Console));
            }

            var exit = ExitCodes.Success;
            if (!merged.ThresholdsPassed)
            {
                exit = ExitCodes.ThresholdFailed;
                await context.Console.Error.WriteLineAsync($"engine-client load merge: {LoadOperation.ThresholdsFailed(merged)} (exit {exit})");
            }

            return await LoadOutputs.TellFailuresAsync(context, "engine-client load merge", exit, [], failed);
        }));
        return command;
    }

    private static void AddInput(List<(string What, string Path)> inputs, string option, string? path)
    {
        if (path is not null)
        {
            inputs.Add((option, path));
        }
    }

    /// <summary>The command line as given, each argument quoted for a POSIX shell when it needs it.</summary>
    private static string CommandLine(CliContext context) => ShellText.CommandLine([CliApp.Name, .. context.Arguments]);

    /// <summary>
    /// What the user targeted, for the report's <c>sources</c>: the <c>--worker</c> addresses, the
    /// DNS target of <c>--fleet</c> (or the addresses of its file), the <c>--spec</c> file.
    /// </summary>
    internal static IReadOnlyList<string> TargetNames(IReadOnlyList<WorkerAddress> workers, FleetTargets? fleet, string? specification) =>
        specification is not null ? [specification]
        : fleet?.Dns is { } dns ? [dns]
        : fleet is not null ? [.. fleet.Workers.Select(w => w.ToString())]
        : [.. workers.Select(w => w.ToString())];

    internal static List<LoadThreshold> ParseThresholds(string[]? expressions)
    {
        var list = new List<LoadThreshold>();
        foreach (var expression in expressions ?? [])
        {
            try
            {
                list.Add(LoadThreshold.Parse(expression));
            }
            catch (FormatException ex)
            {
                throw new UsageException($"--threshold: {ex.Message}", ex);
            }
        }

        return list;
    }

    private static LoadTestOptions BuildOptions(
        System.CommandLine.ParseResult parse, Option<double?> rate, Option<int?> concurrency, Option<string?> stages, Option<TimeSpan?> duration,
        Option<long?> sessions, Option<TimeSpan?> warmup, Option<TimeSpan?> drain, Option<int?> maxInFlight, Option<int?> seed, Option<string?> shard)
    {
        var r = parse.GetValue(rate);
        var c = parse.GetValue(concurrency);
        if (r is not null && c is not null)
        {
            throw new UsageException("--rate and --concurrency are both given; give --rate R for the open model or --concurrency N for the closed one.");
        }

        if (r is { } rv && (!(rv >= 0) || double.IsInfinity(rv)))
        {
            throw new UsageException($"--rate {rv.ToString(CultureInfo.InvariantCulture)} is not a rate; give sessions per second above 0 (for example 50 or 0.5; 0 only with --stages).");
        }

        if (r is > 0 and < MinimumRate)
        {
            throw new UsageException(RateTooLow("--rate", r.Value));
        }

        if (c is < 0 or > 100_000)
        {
            throw new UsageException($"--concurrency {c} is out of range; give 0 to 100000.");
        }

        var options = new LoadTestOptions
        {
            Model = r is not null ? LoadModelKind.Open : LoadModelKind.Closed,
            Target = r ?? c ?? 1,
            Duration = parse.GetValue(duration),
            Sessions = parse.GetValue(sessions),
            Warmup = parse.GetValue(warmup) ?? TimeSpan.Zero,
            DrainTimeout = parse.GetValue(drain) ?? TimeSpan.FromSeconds(30),
            MaxInFlight = parse.GetValue(maxInFlight) ?? 10_000,
            Seed = parse.GetValue(seed),
        };
        if (options.Sessions is <= 0)
        {
            throw new UsageException($"--sessions {options.Sessions} is not positive; give how many sessions to start, at least 1.");
        }

        if (options.MaxInFlight <= 0)
        {
            throw new UsageException($"--max-in-flight {options.MaxInFlight} is not positive.");
        }

        if (r is null && parse.GetValue(maxInFlight) is not null)
        {
            throw new UsageException("--max-in-flight is for the open model (--rate): the closed model's sessions in flight are its --concurrency.");
        }

        if (parse.GetValue(stages) is { } stagesPath)
        {
            if (options.Duration is not null)
            {
                throw new UsageException("--stages and --duration are both given; the stages' durations add up to the test's length: drop --duration.");
            }

            options.Stages = LoadFiles.ReadStages(stagesPath);
            if (options.Model == LoadModelKind.Open && options.Stages.FirstOrDefault(s => s.Target is > 0 and < MinimumRate) is { } slow)
            {
                throw new UsageException(RateTooLow($"--stages '{stagesPath}': target", slow.Target));
            }

            if (options.Model == LoadModelKind.Closed && options.Stages.Any(s => s.Target != Math.Floor(s.Target)))
            {
                throw new UsageException($"--stages '{stagesPath}': a closed model's targets are concurrencies, whole numbers; give --rate for rates.");
            }
        }

        if (options.Stages is null && options.Target == 0)
        {
            // Nothing would start: exit 0 would claim a test that did not run.
            throw new UsageException(r is not null
                ? "--rate 0 starts no session; give a rate above 0 (only a stage of --stages may have target 0)."
                : "--concurrency 0 runs no session; give 1 or more (only a stage of --stages may have target 0).");
        }

        if (options.Duration is null && options.Sessions is null && options.Stages is null)
        {
            throw new UsageException("no bound given; give --duration (for example 30s), --sessions N or --stages <file>.");
        }

        if (parse.GetValue(shard) is { } shardText)
        {
            options.Shard = ParseShard(shardText);
        }

        return options;
    }

    /// <summary>The longest wait a timer takes (Task.Delay), in milliseconds: 2^32 - 2, about 49.7 days.</summary>
    private const double LongestGapMilliseconds = uint.MaxValue - 1.0;

    /// <summary>The lowest rate whose gap between starts (1/rate) a timer can wait, in sessions per second.</summary>
    private const double MinimumRate = 1000 / LongestGapMilliseconds;

    private static string RateTooLow(string what, double rate) => string.Create(CultureInfo.InvariantCulture,
        $"{what} {rate} spaces starts {1 / rate:G4} s apart, longer than the longest wait a timer allows ({LongestGapMilliseconds / 1000:0.###} s, about 49.7 days); give a rate of at least {MinimumRate:G4} sessions per second (1 every 49.7 days).");

    /// <summary>
    /// Poisson gaps are drawn as -ln(1 - u)/rate with u a double below 1, so at most 53·ln 2 (about
    /// 36.7) times the mean gap: the rate (and every stage target above 0) must keep that under a timer's longest wait.
    /// </summary>
    private static void CheckPoissonRate(LoadTestOptions options)
    {
        if (options.Arrivals != LoadArrivals.Poisson)
        {
            return;
        }

        var factor = 53 * Math.Log(2);
        var lowest = MinimumRate * factor;
        var targets = options.Stages is { } stages ? stages.Select(s => s.Target) : [options.Target];
        if (targets.FirstOrDefault(t => t is > 0 && t < lowest) is var slow && slow is > 0)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"--arrivals poisson with a rate of {slow} may draw a gap of up to {factor / slow:G4} s between starts (36.7 times the mean), longer than the longest wait a timer allows ({LongestGapMilliseconds / 1000:0.###} s, about 49.7 days); give a rate of at least {lowest:G4} sessions per second."));
        }
    }

    internal static LoadArrivals ParseArrivals(string? text, LoadModelKind model)
    {
        var arrivals = text switch
        {
            null or "uniform" => LoadArrivals.Uniform,
            "poisson" => LoadArrivals.Poisson,
            _ => throw new UsageException($"--arrivals '{text}' is not uniform or poisson."),
        };
        if (arrivals == LoadArrivals.Poisson && model == LoadModelKind.Closed)
        {
            throw new UsageException("--arrivals poisson is for the open model; give --rate R (the closed model starts a session when one ends).");
        }

        return arrivals;
    }

    internal static LoadShard ParseShard(string text) =>
        TryParseShard(text) ?? throw new UsageException($"--shard '{text}' is not i/N with i from 0 to N-1 (for example 0/4).");

    /// <summary>Shard text (<c>i/N</c>, i from 0 to N-1) as a shard, or <see langword="null"/> when it is not one.</summary>
    private static LoadShard? TryParseShard(string text)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        return slash > 0
            && int.TryParse(text.AsSpan(0, slash), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            && int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            && count >= 1 && index < count
            ? new LoadShard(index, count)
            : null;
    }

    private static Func<LoadInput> InputFactory(string? input, long? rows, int? batchRows, int? batches, string? columns)
    {
        var generated = rows is not null || batchRows is not null || batches is not null || columns is not null;
        if (input is not null && generated)
        {
            throw new UsageException("--input and generated input (--rows, --batch-rows, --batches, --columns) are both given; give one.");
        }

        LoadInput? made = null;
        if (input is not null)
        {
            made = LoadFiles.ReadArrow(input, "--input");
        }
        else if (generated)
        {
            if (rows is <= 0 || batchRows is <= 0 || batches is <= 0)
            {
                throw new UsageException("--rows, --batch-rows and --batches must be positive.");
            }

            made = LoadFiles.GenerateInput(rows, batchRows, batches, columns, "generated input (--rows, --batch-rows, --batches, --columns)");
        }

        return () => made ?? LoadInput.None;
    }

    private static WorkerAddress[] ParseAddresses(System.CommandLine.Parsing.ArgumentResult result)
    {
        var list = new List<WorkerAddress>();
        foreach (var token in result.Tokens)
        {
            if (WorkerAddress.TryParse(token.Value, out var address, out var error))
            {
                list.Add(address);
            }
            else
            {
                result.AddError($"--worker: {error}");
            }
        }

        return [.. list];
    }
}

/// <summary>Everything <c>load</c> was asked to do, checked.</summary>
internal sealed record LoadPlan(
    IReadOnlyList<WorkerAddress> Workers,
    FleetTargets? Fleet,
    WorkerSpecification? Specification,
    int WorkerCount,
    WorkerClientOptions ClientOptions,
    LoadTestOptions Options,
    IReadOnlyList<LoadThreshold> Thresholds,
    LoadOutputs Outputs,
    bool Json,
    bool NoProgress,
    bool StderrIsTerminal);
