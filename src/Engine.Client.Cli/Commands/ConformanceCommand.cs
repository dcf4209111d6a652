using System.CommandLine;
using Engine.Client.Cli.Operations;
using Engine.Client.Cli.Output;
using Engine.Client.Cli.Parsing;
using Engine.Client.Conformance;

namespace Engine.Client.Cli.Commands;

/// <summary><c>engine-client conformance</c>: the worker conformance suite against a running worker.</summary>
internal static class ConformanceCommand
{
    /// <summary>Deadline of the heartbeat that checks the worker answers at all (or <c>--timeout</c> when longer).</summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    public static Command Create(CliContext context)
    {
        var worker = CommonOptions.Worker(required: true, "The worker's address: unix:///path/to/socket or http://host:port.");
        var check = new Option<string[]>("--check")
        {
            Description = "Run only this check (repeatable), for example C1 or payload-crc-mismatch. Default: every check that leaves the worker running; C18 and shutdown-cancels-sessions stop the worker and run only when named.",
            HelpName = "id",
        };
        var timeout = CommonOptions.Timeout("Bound on every single wait of a check (a send, a response, a Manage call). Default 10s.");
        var keepAlive = CommonOptions.KeepAlive();
        var json = CommonOptions.Json("Print one JSON object on stdout instead of a line per check.");
        var command = new Command("conformance", "Check that a worker follows the worker side of the protocol: a line per check. Exit 0 all passed, 1 a check failed, 2 unknown check, 3 the worker is unreachable, 130 interrupted.")
        {
            worker, check, timeout, keepAlive, json,
        };
        command.SetAction((parse, _) => CliApp.GuardAsync(context, parse, async () =>
        {
            var ids = ResolveChecks(parse.GetValue(check));
            var address = parse.GetValue(worker)!;
            var wait = parse.GetValue(timeout) ?? TimeSpan.FromSeconds(10);
            var jsonOutput = parse.GetValue(json);
            var keepAliveDelay = parse.GetValue(keepAlive);

            // One heartbeat first: an unreachable worker is one clear line, not a failure per check.
            var probe = await ManageOperations.HeartbeatAsync(address, wait > ProbeTimeout ? wait : ProbeTimeout, context.Signals.Interrupt, keepAliveDelay);
            if (!probe.Answered)
            {
                if (jsonOutput)
                {
                    await context.Console.Out.WriteLineAsync(ConformanceOutput.Json(address, [], probe.Error));
                }

                await context.Console.Error.WriteLineAsync($"engine-client conformance: the worker at {address} did not answer a heartbeat: {CliApp.OneLine(probe.Error?.Message ?? "no answer")}");
                return probe.ExitCode;
            }

            var renderer = Renderer.For(context.Console);
            var clientOptions = new WorkerClientOptions();
            if (keepAliveDelay is { } delay)
            {
                clientOptions.KeepAlivePingDelay = delay;
            }

            using var conformance = WorkerConformance.Create(address, clientOptions, new WorkerConformanceOptions { Timeout = wait });
            var progress = jsonOutput ? null : new ImmediateProgress(result => ConformanceOutput.Line(result, renderer));
            var results = await conformance.RunAsync(ids, progress, context.Signals.Interrupt);
            if (jsonOutput)
            {
                await context.Console.Out.WriteLineAsync(ConformanceOutput.Json(address, results, null));
            }
            else
            {
                ConformanceOutput.Summary(results, renderer);
            }

            if (context.Signals.Interrupt.IsCancellationRequested)
            {
                return ExitCodes.Interrupted;
            }

            return results.All(r => r.Passed) ? ExitCodes.Success : ExitCodes.WorkerError;
        }));
        return command;
    }

    private static IReadOnlyList<string> ResolveChecks(string[]? requested)
    {
        if (requested is null || requested.Length == 0)
        {
            return WorkerConformance.DefaultCheckIds;
        }

        foreach (var id in requested)
        {
            try
            {
                WorkerConformance.GetCheck(id);
            }
            catch (ArgumentException)
            {
                throw new UsageException($"--check '{id}' names no check; known: {string.Join(", ", WorkerConformance.Checks.Select(c => c.Id))}.");
            }
        }

        return requested;
    }

    /// <summary>Reports on the caller's thread, in order (<see cref="Progress{T}"/> posts to the thread pool).</summary>
    private sealed class ImmediateProgress(Action<ConformanceResult> report) : IProgress<ConformanceResult>
    {
        public void Report(ConformanceResult value) => report(value);
    }
}

/// <summary>Output of <c>conformance</c>.</summary>
internal static class ConformanceOutput
{
    public static void Line(ConformanceResult result, Renderer output)
    {
        var mark = result.Status switch
        {
            ConformanceStatus.Passed => Mark.Good,
            ConformanceStatus.Failed => Mark.Bad,
            _ => Mark.Neutral,
        };
        var text = $"{result.Check.Description} ({Formats.Milliseconds(result.Duration)})";
        if (result.Message is not null)
        {
            text += $": {CliApp.OneLine(result.Message)}";
        }

        output.Marked(mark, result.Check.Id, text);
    }

    public static void Summary(IReadOnlyList<ConformanceResult> results, Renderer output)
    {
        var (passed, failed, skipped) = Count(results);
        output.Line($"{passed} passed, {failed} failed, {skipped} skipped");
    }

    public static string Json(WorkerAddress worker, IReadOnlyList<ConformanceResult> results, RunError? error) => JsonOutput.Document(json =>
    {
        var (passed, failed, skipped) = Count(results);
        json.WriteStartObject();
        json.WriteString("worker", worker.ToString());
        json.WriteNumber("passed", passed);
        json.WriteNumber("failed", failed);
        json.WriteNumber("skipped", skipped);
        json.WriteStartArray("checks");
        foreach (var result in results)
        {
            json.WriteStartObject();
            json.WriteString("id", result.Check.Id);
            json.WriteString("description", result.Check.Description);
            json.WriteString("status", result.Status switch
            {
                ConformanceStatus.Passed => "passed",
                ConformanceStatus.Failed => "failed",
                _ => "skipped",
            });
            JsonOutput.WriteStringOrNull(json, "message", result.Message);
            json.WriteNumber("durationSeconds", Math.Round(result.Duration.TotalSeconds, 6));
            json.WriteEndObject();
        }

        json.WriteEndArray();
        ManageJson.WriteError(json, error);
        json.WriteEndObject();
    });

    private static (int Passed, int Failed, int Skipped) Count(IReadOnlyList<ConformanceResult> results) => (
        results.Count(r => r.Status == ConformanceStatus.Passed),
        results.Count(r => r.Status == ConformanceStatus.Failed),
        results.Count(r => r.Status == ConformanceStatus.Skipped));
}
