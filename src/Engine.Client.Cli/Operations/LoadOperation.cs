using System.Globalization;
using Engine.Client.Cli.Commands;
using Engine.Client.Cli.Output;
using Engine.Client.Cli.Parsing;
using Engine.Client.Load;
using Spectre.Console;

namespace Engine.Client.Cli.Operations;

/// <summary>Runs <c>engine-client load</c>: sources, live progress, the test, the reports, the exit code.</summary>
internal static class LoadOperation
{
    public static async Task<int> RunAsync(CliContext context, LoadPlan plan)
    {
        var options = plan.Options;
        var outputs = plan.Outputs;
        var sources = new List<WorkerSessionSource>();
        var heartbeatClients = new List<WorkerClient>();
        FollowedHeartbeatProbes? followed = null;
        StreamWriter? intervals = null;
        FileStream? hdrStream = null;
        try
        {
            if (plan.Specification is { } specification)
            {
                var pool = WorkerPool.Create(specification, new WorkerPoolOptions
                {
                    MaxWorkers = plan.WorkerCount,
                    MaxIdleWorkers = plan.WorkerCount,
                    MaxSessionsPerWorker = 1024,
                    CancelSessionsOnDispose = true,
                    Session = plan.ClientOptions.Session,
                    Connection = plan.ClientOptions.Connection,
                });
                sources.Add(pool);
                try
                {
                    await pool.StartWorkersAsync(plan.WorkerCount, context.Signals.Interrupt);
                }
                catch (OperationCanceledException) when (context.Signals.Interrupt.IsCancellationRequested)
                {
                    await context.Console.Error.WriteLineAsync("engine-client load: interrupted while starting workers.");
                    return await NoRunAsync(context, plan, ExitCodes.Interrupted, error: null);
                }
                catch (WorkerException ex)
                {
                    await context.Console.Error.WriteLineAsync($"engine-client load: the workers could not be launched (exit 3): {CliApp.OneLine(ex.Message)}");
                    return await NoRunAsync(context, plan, ExitCodes.Transport, ("transport", "launch_failed", "the workers could not be launched: " + ex.Message));
                }

                // Sampled: the pool's workers of each round, so that a worker launched to replace
                // one that died is probed from the next round (the one that died until it leaves).
                followed = FollowedHeartbeatProbes.ForPool(pool, plan.ClientOptions);
                options.HeartbeatProbes = followed.Current;
            }
            else if (plan.Fleet is { } targets)
            {
                // A fleet (--fleet, or --worker repeated): it places each session on the least
                // loaded worker and retries it elsewhere before commit, as an engine's fleet does.
                var fleet = targets.CreateFleet(new WorkerFleetOptions
                {
                    Name = "load",
                    Connection = plan.ClientOptions.Connection,
                    Session = plan.ClientOptions.Session,
                });
                sources.Add(fleet);
                await fleet.HeartbeatAllAsync(context.Signals.Interrupt);

                // Sampled: the fleet's workers of each round, as its discovery adds and drops them.
                followed = FollowedHeartbeatProbes.ForFleet(fleet, plan.ClientOptions);
                options.HeartbeatProbes = followed.Current;
            }
            else
            {
                // One --worker address.
                foreach (var address in plan.Workers)
                {
                    var client = WorkerClient.Create(address, plan.ClientOptions);
                    sources.Add(client);
                    heartbeatClients.Add(client);
                }
            }

            foreach (var client in heartbeatClients)
            {
                options.Heartbeats.Add(new LoadHeartbeatProbe(client.Name, token => client.HeartbeatAsync(TimeSpan.FromSeconds(10), token)));
            }

            if (outputs.Intervals is { } intervalsPath)
            {
                intervals = new StreamWriter(InputFiles.Create(intervalsPath, outputs.IntervalsOption), new System.Text.UTF8Encoding(false));
            }

            // Created now, so that a path that cannot be written fails before the run; its header,
            // which holds the run's start, is written with the first interval.
            hdrStream = outputs.HdrLog is { } hdrPath ? InputFiles.Create(hdrPath, outputs.HdrLogOption) : null;

            // The files written as the run goes: one that fails is written no more, the run goes
            // on, and the failure is told at the end, after the other reports are written.
            using var progress = new LoadProgress(
                plan.NoProgress ? null : context.Console.Error,
                intervals is null ? null : (outputs.IntervalsOption, outputs.Intervals!, intervals),
                hdrStream is null ? null : (outputs.HdrLogOption, outputs.HdrLog!, hdrStream),
                options.Model);
            intervals = null;
            hdrStream = null;

            options.Observer = progress;

            using var notice = context.Signals.Interrupt.Register(() =>
                context.Console.Error.WriteLine("engine-client load: interrupted; cancelling the sessions in flight and writing the reports."));
            LoadResult result;
            if (plan.StderrIsTerminal && !plan.NoProgress)
            {
                var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(context.Console.Error) });
                LoadResult? ran = null;
                await console.Live(new Table().AddColumn("starting")).AutoClear(false).StartAsync(async live =>
                {
                    progress.AttachLive(table =>
                    {
                        live.UpdateTarget(table);
                        live.Refresh();
                    });
                    ran = await LoadTest.RunAsync(sources, options, context.Signals.Interrupt);
                    progress.AttachLive(null);
                });
                result = ran!;
            }
            else
            {
                result = await LoadTest.RunAsync(sources, options, context.Signals.Interrupt);
            }

            result = result.WithThresholds(plan.Thresholds);

            // Each report on its own: one that cannot be written (a full disk, its directory gone)
            // is told below, and the others, and the summary on stdout, are written all the same.
            var failed = LoadOutputs.WriteReports(
                ("--output-dir", outputs.Json, () => LoadReports.ToJson(result)),
                (outputs.HtmlOption, outputs.Html, () => LoadReports.ToHtml(result)),
                (outputs.CsvOption, outputs.Csv, () => LoadReports.ToCsv(result)));

            if (plan.Json)
            {
                await context.Console.Out.WriteLineAsync(LoadReports.ToJson(result));
            }
            else
            {
                LoadSummaryText.Write(result, Renderer.For(context.Console));
            }

            var exit = ExitCode(result);
            if (exit != ExitCodes.Success)
            {
                await context.Console.Error.WriteLineAsync($"engine-client load: {Reason(result, exit)} (exit {exit})");
            }

            // Closed now, so that what was left to write is written (or its failure known). An
            // output failure, as for stdout: a success becomes exit 2; another exit code is kept.
            progress.Dispose();
            return await LoadOutputs.TellFailuresAsync(context, "engine-client load", exit, progress.Failures, failed);
        }
        finally
        {
            intervals?.Dispose();
            hdrStream?.Dispose();
            followed?.Dispose();
            foreach (var client in heartbeatClients.Where(c => !sources.Contains(c)))
            {
                await client.DisposeAsync();
            }

            foreach (var source in sources)
            {
                await source.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// No test ran (the workers could not be launched, or an interrupt came while they started):
    /// with <c>--json</c> one object on stdout says why. No report file is written, there being
    /// nothing to report: files already there keep their content, and an <c>--output-dir</c> this
    /// command created is removed while it is still empty (docs/load-testing.md, "When no test ran").
    /// </summary>
    private static async Task<int> NoRunAsync(CliContext context, LoadPlan plan, int exit, (string Kind, string Reason, string Message)? error)
    {
        if (plan.Outputs.CreatedDirectory is { } created)
        {
            try
            {
                if (!Directory.EnumerateFileSystemEntries(created).Any())
                {
                    Directory.Delete(created);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Left as it is: an empty directory loses nothing.
            }
        }

        if (plan.Json)
        {
            await context.Console.Out.WriteLineAsync(NoRunJson(exit, error));
        }

        return exit;
    }

    /// <summary>The object of a load test that did not run: <c>schemaVersion</c>, <c>ran</c> (false), <c>exitCode</c> and <c>error</c> (null when interrupted).</summary>
    internal static string NoRunJson(int exit, (string Kind, string Reason, string Message)? error)
    {
        using var stream = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(stream, new System.Text.Json.JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", LoadResult.CurrentSchemaVersion);
            w.WriteString("tool", "engine-client load");
            w.WriteBoolean("ran", false);
            w.WriteNumber("exitCode", exit);
            if (error is { } e)
            {
                w.WriteStartObject("error");
                w.WriteString("kind", e.Kind);
                w.WriteString("reason", e.Reason);
                w.WriteString("message", e.Message);
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("error");
            }

            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>
    /// 130 interrupted; 4 a threshold failed; when no measured session ended well (finished, or
    /// cancelled on purpose): 3 when a failure was in transport (or the source gave no session) or
    /// the drain limit cancelled them, else 1 (the worker's errors, or no session measured at all);
    /// 0 otherwise. A run that measured nothing is never a success.
    /// </summary>
    internal static int ExitCode(LoadResult result)
    {
        if (result.Interrupted)
        {
            return ExitCodes.Interrupted;
        }

        if (!result.ThresholdsPassed)
        {
            return ExitCodes.ThresholdFailed;
        }

        var s = result.Sessions;
        if (s.Finished + s.Cancelled == 0)
        {
            return s.Abandoned > 0 || s.Failed.Keys.Any(k => k is "transportFailed" or "openFailed" or "interrupted") ? ExitCodes.Transport : ExitCodes.WorkerError;
        }

        return ExitCodes.Success;
    }

    /// <summary>The failed thresholds, for the line on stderr: <c>threshold failed: session.p99 &lt; 50ms (actual 73.2ms)</c>.</summary>
    internal static string ThresholdsFailed(LoadResult result) =>
        "threshold failed: " + CliApp.OneLine(string.Join("; ", result.Thresholds.Where(t => !t.Passed).Select(t => $"{t.Expression} (actual {t.ActualText})")));

    /// <summary>What to check when no session was measured, for the run's model.</summary>
    private static string NothingMeasuredHint(LoadModelKind model) => model == LoadModelKind.Open
        ? "check --rate, --duration or --stages, --sessions and --warmup (a start is due every 1/rate seconds: a rate too low for the time after the warm-up makes none there)"
        : "check --concurrency, --duration or --stages, --sessions and --warmup (a closed-model ramp runs its whole part: 0 to 1 reaches one session only at its end)";

    private static string Reason(LoadResult result, int exit) => exit switch
    {
        ExitCodes.Interrupted => "interrupted",
        ExitCodes.ThresholdFailed => ThresholdsFailed(result),
        _ when result.Sessions.FailedTotal > 0 => "no session succeeded: " + CliApp.OneLine(string.Join("; ", result.Errors.Take(3).Select(e => $"{e.Key} x{e.Count}: {(e.Messages.Count > 0 ? e.Messages[0] : "")}"))),
        _ when result.Sessions.Abandoned > 0 => string.Create(CultureInfo.InvariantCulture, $"no measured session ended: {result.Sessions.Abandoned} were still running at the drain limit and were cancelled (--drain-timeout)"),
        _ => string.Create(CultureInfo.InvariantCulture, $"no session was measured ({result.Sessions.Started} started after the warm-up, {result.Sessions.NotStarted} could not start): {NothingMeasuredHint(result.Model)}"),
    };
}
