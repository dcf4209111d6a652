using System.CommandLine;
using System.Globalization;
using System.Xml;
using System.Xml.Linq;
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
        var worker = CommonOptions.Worker(required: false, "The worker's address: unix:///path/to/socket or http://host:port. Give this or --spec.");
        var spec = new Option<string?>("--spec")
        {
            Description = "A worker specification file: the kit launches the worker itself, checks its process contract (process-ready, process-stale-socket, process-sigterm, and the advisory process-unknown-flags and process-parent-death, each on a worker of its own), then runs the protocol checks on one more worker and stops it. Give this or --worker.",
            HelpName = "file",
        };
        var check = new Option<string[]>("--check")
        {
            Description = "Run only this check (repeatable), for example C1 or payload-crc-mismatch. Default: every check that leaves the worker running (and, with --spec, the process checks); C18 and shutdown-cancels-sessions stop the worker and run only when named.",
            HelpName = "id",
        };
        var timeout = CommonOptions.Timeout("Bound on every single wait of a check (a send, a response, a Manage call). Default 10s.");
        var keepAlive = CommonOptions.KeepAlive();
        var json = CommonOptions.Json("Print one JSON object on stdout instead of a line per check.");
        var profile = new Option<string>("--profile")
        {
            Description = "The worker's profile (JSON): how it echoes, fails an init and raises a user error, and the Arrow schema to send (docs/conformance.md). Checks the profile gives no behaviour for are reported not applicable. Default: the reference worker's profile.",
            HelpName = "file",
        };
        var junit = new Option<string>("--junit")
        {
            Description = "Also write the results as JUnit XML (one testcase per check) to this file, for CI systems.",
            HelpName = "file",
        };
        var strict = new Option<bool>("--strict")
        {
            Description = "Advisory checks (recommendations of the protocol, not requirements: process-unknown-flags, process-parent-death) fail the run when the worker does not follow them. Without it they are reported as warnings and never change the exit code.",
        };
        var command = new Command("conformance", "Check that a worker follows the worker side of the protocol: a line per check. Exit 0 no check failed (passed, not applicable, or an advisory warning), 1 a check failed (with --strict, also an advisory one), 2 bad usage (unknown check, unreadable profile or specification, unwritable report, a report to stdout), 3 the worker is unreachable or could not be launched, 130 interrupted.")
        {
            worker, spec, check, timeout, keepAlive, json, profile, junit, strict,
        };
        command.SetAction((parse, _) => CliApp.GuardAsync(context, parse, async () =>
        {
            var address = parse.GetValue(worker);
            var specPath = parse.GetValue(spec);
            if ((address is null) == (specPath is null))
            {
                throw new UsageException(address is null
                    ? "no worker given; give exactly one of --worker <address> (a running worker) or --spec <file> (the kit launches it)."
                    : "--worker and --spec are both given; give exactly one.");
            }

            var specification = specPath is null ? null : SpecificationFiles.LoadValid(specPath, "--spec");
            var (processIds, protocolIds) = ResolveChecks(parse.GetValue(check), launches: specification is not null);
            var wait = parse.GetValue(timeout) ?? TimeSpan.FromSeconds(10);
            var jsonOutput = parse.GetValue(json);
            var keepAliveDelay = parse.GetValue(keepAlive);
            var profilePath = parse.GetValue(profile);
            var junitPath = parse.GetValue(junit);

            // Before any check runs: a report that cannot be written is bad usage, found now.
            LoadOutputs.CheckNotStandardOutput([("--junit", junitPath)], jsonOutput ? "its JSON object" : "its lines");
            InputFiles.CheckWritable(junitPath, "--junit");
            var options = LoadProfile(profilePath);
            options.Timeout = wait;
            options.Strict = parse.GetValue(strict);
            var clientOptions = new WorkerClientOptions();
            if (keepAliveDelay is { } delay)
            {
                clientOptions.Connection.KeepAlivePingDelay = delay;
            }

            var renderer = Renderer.For(context.Console);
            var progress = jsonOutput ? null : new ImmediateProgress(result => ConformanceOutput.Line(result, renderer));
            var results = new List<ConformanceResult>();
            string target;
            if (specification is not null)
            {
                target = specPath!;
                var processOptions = new WorkerProcessOptions();
                if (processIds.Count > 0)
                {
                    var processResults = await WorkerConformance.CheckProcessAsync(specification, processOptions, progress, options, context.Signals.Interrupt);
                    results.AddRange(processResults.Where(r => processIds.Contains(r.Check.Id, StringComparer.OrdinalIgnoreCase)));
                }

                if (protocolIds.Count > 0 && !context.Signals.Interrupt.IsCancellationRequested)
                {
                    WorkerConformance conformance;
                    try
                    {
                        conformance = await WorkerConformance.LaunchAsync(specification, options, processOptions, clientOptions, context.Signals.Interrupt);
                    }
                    catch (WorkerLaunchException ex)
                    {
                        if (jsonOutput)
                        {
                            await context.Console.Out.WriteLineAsync(ConformanceOutput.Json(target, results, new RunError { Kind = RunErrorKind.Transport, Message = ex.Message, Reason = "launch_failed" }));
                        }

                        await context.Console.Error.WriteLineAsync($"engine-client conformance: the worker of {specPath} could not be launched: {CliApp.OneLine(ex.Message)}");
                        return ExitCodes.Transport;
                    }

                    await using (conformance)
                    {
                        results.AddRange(await conformance.RunAsync(protocolIds, progress, context.Signals.Interrupt));
                    }
                }
            }
            else
            {
                target = address!.ToString();

                // One heartbeat first: an unreachable worker is one clear line, not a failure per check.
                var probe = await ManageOperations.HeartbeatAsync(address, wait > ProbeTimeout ? wait : ProbeTimeout, context.Signals.Interrupt, keepAliveDelay);
                if (!probe.Answered)
                {
                    if (jsonOutput)
                    {
                        await context.Console.Out.WriteLineAsync(ConformanceOutput.Json(target, [], probe.Error));
                    }

                    await context.Console.Error.WriteLineAsync($"engine-client conformance: the worker at {address} did not answer a heartbeat: {CliApp.OneLine(probe.Error?.Message ?? "no answer")}");
                    return probe.ExitCode;
                }

                using var conformance = WorkerConformance.Create(address, clientOptions, options);
                results.AddRange(await conformance.RunAsync(protocolIds, progress, context.Signals.Interrupt));
            }

            if (jsonOutput)
            {
                await context.Console.Out.WriteLineAsync(ConformanceOutput.Json(target, results, null));
            }
            else
            {
                ConformanceOutput.Summary(results, options.ProfileName, profilePath, renderer);
            }

            if (junitPath is not null)
            {
                LoadOutputs.WriteFile(junitPath, "--junit", ConformanceJUnit.Document(target, options.ProfileName, results));
            }

            if (context.Signals.Interrupt.IsCancellationRequested)
            {
                return ExitCodes.Interrupted;
            }

            return results.Any(r => r.Status == ConformanceStatus.Failed) ? ExitCodes.WorkerError : ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>The profile file's options, or the reference worker's (the library's defaults) when none is given.</summary>
    private static WorkerConformanceOptions LoadProfile(string? path)
    {
        if (path is null)
        {
            return new WorkerConformanceOptions();
        }

        var text = System.Text.Encoding.UTF8.GetString(InputFiles.ReadAllBytes(path, "--profile"));
        try
        {
            return WorkerConformanceOptions.ParseProfile(text);
        }
        catch (FormatException ex) when (ex.InnerException is System.Text.Json.JsonException json)
        {
            throw new UsageException($"--profile '{path}' {JsonSyntax.Describe(json)}", ex);
        }
        catch (FormatException ex)
        {
            throw new UsageException($"--profile '{path}': {ex.Message}", ex);
        }
    }

    /// <summary>The process checks and the protocol checks to run; process checks only when the kit launches the worker.</summary>
    private static (IReadOnlyList<string> Process, IReadOnlyList<string> Protocol) ResolveChecks(string[]? requested, bool launches)
    {
        var processIds = WorkerConformance.ProcessChecks.Select(c => c.Id).ToList();
        if (requested is null || requested.Length == 0)
        {
            return (launches ? processIds : [], WorkerConformance.DefaultCheckIds);
        }

        var process = new List<string>();
        var protocol = new List<string>();
        foreach (var id in requested)
        {
            if (processIds.Contains(id, StringComparer.OrdinalIgnoreCase))
            {
                if (!launches)
                {
                    throw new UsageException($"--check '{id}' is a process check: it needs --spec, so that the kit launches the worker.");
                }

                process.Add(id);
                continue;
            }

            try
            {
                WorkerConformance.GetCheck(id);
            }
            catch (ArgumentException)
            {
                throw new UsageException($"--check '{id}' names no check; known: {string.Join(", ", WorkerConformance.Checks.Concat(WorkerConformance.ProcessChecks).Select(c => c.Id))}.");
            }

            protocol.Add(id);
        }

        return (process, protocol);
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
            ConformanceStatus.Warning => Mark.Warning,
            _ => Mark.Neutral,
        };
        var text = $"{result.Check.Description} ({Formats.Milliseconds(result.Duration)})";
        if (result.Message is not null)
        {
            text += $": {CliApp.OneLine(result.Message)}";
        }

        output.Marked(mark, result.Check.Id, text);
        if (result.Status is ConformanceStatus.Failed or ConformanceStatus.Warning)
        {
            if (result.Check.Advisory)
            {
                output.Line(result.Status == ConformanceStatus.Warning
                    ? "       advisory: a recommendation of the protocol, not a requirement; it does not fail the run (--strict makes it fail)"
                    : "       advisory: a recommendation of the protocol, failed because of --strict");
            }

            output.Line($"       rule: {result.Check.Rule}");
            output.Line($"       sent: {CliApp.OneLine(Join(result.Sent))}");
            output.Line($"       received: {CliApp.OneLine(Join(result.Received))}");
            output.Line($"       a correct worker sends: {result.Check.Expected}");
        }
    }

    public static void Summary(IReadOnlyList<ConformanceResult> results, string profileName, string? profilePath, Renderer output)
    {
        var (passed, failed, notApplicable, warnings) = Count(results);
        var source = profilePath is null ? "built in; give yours with --profile" : profilePath;
        var warned = warnings == 0 ? string.Empty : $", {warnings} advisory {(warnings == 1 ? "warning" : "warnings")}";
        output.Line($"{passed} passed, {failed} failed, {notApplicable} not applicable{warned} (profile: {CliApp.OneLine(profileName)}, {CliApp.OneLine(source)})");
    }

    public static string Json(string worker, IReadOnlyList<ConformanceResult> results, RunError? error) => JsonOutput.Document(json =>
    {
        var (passed, failed, notApplicable, warnings) = Count(results);
        json.WriteStartObject();
        json.WriteString("worker", worker);
        json.WriteNumber("passed", passed);
        json.WriteNumber("failed", failed);
        json.WriteNumber("notApplicable", notApplicable);
        json.WriteNumber("warnings", warnings);
        json.WriteStartArray("checks");
        foreach (var result in results)
        {
            json.WriteStartObject();
            json.WriteString("id", result.Check.Id);
            json.WriteString("description", result.Check.Description);
            json.WriteString("status", Status(result.Status));
            JsonOutput.WriteStringOrNull(json, "message", result.Message);
            json.WriteNumber("durationSeconds", Math.Round(result.Duration.TotalSeconds, 6));
            json.WriteString("rule", result.Check.Rule);
            json.WriteString("expected", result.Check.Expected);
            json.WriteStartArray("sent");
            foreach (var sent in result.Sent)
            {
                json.WriteStringValue(sent);
            }

            json.WriteEndArray();
            json.WriteStartArray("received");
            foreach (var received in result.Received)
            {
                json.WriteStringValue(received);
            }

            json.WriteEndArray();
            JsonOutput.WriteStringOrNull(json, "profileKey", result.ProfileKey);
            json.WriteBoolean("advisory", result.Check.Advisory);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        ManageJson.WriteError(json, error);
        json.WriteEndObject();
    });

    public static string Status(ConformanceStatus status) => status switch
    {
        ConformanceStatus.Passed => "passed",
        ConformanceStatus.Failed => "failed",
        ConformanceStatus.Warning => "warning",
        _ => "not-applicable",
    };

    public static string Join(IReadOnlyList<string> items) => items.Count == 0 ? "nothing" : string.Join(", ", items);

    private static (int Passed, int Failed, int NotApplicable, int Warnings) Count(IReadOnlyList<ConformanceResult> results) => (
        results.Count(r => r.Status == ConformanceStatus.Passed),
        results.Count(r => r.Status == ConformanceStatus.Failed),
        results.Count(r => r.Status == ConformanceStatus.NotApplicable),
        results.Count(r => r.Status == ConformanceStatus.Warning));
}

/// <summary>The results of <c>conformance</c> as JUnit XML: one testsuite, a testcase per check.</summary>
internal static class ConformanceJUnit
{
    public static string Document(string worker, string profileName, IReadOnlyList<ConformanceResult> results)
    {
        var suite = new XElement(
            "testsuite",
            new XAttribute("name", "engine-client conformance"),
            new XAttribute("tests", results.Count),
            new XAttribute("failures", results.Count(r => r.Status == ConformanceStatus.Failed)),
            new XAttribute("errors", 0),
            new XAttribute("skipped", results.Count(r => r.Status == ConformanceStatus.NotApplicable)),
            new XAttribute("time", Seconds(results.Aggregate(TimeSpan.Zero, (sum, r) => sum + r.Duration))),
            new XElement(
                "properties",
                new XElement("property", new XAttribute("name", "worker"), new XAttribute("value", Xml(worker))),
                new XElement("property", new XAttribute("name", "profile"), new XAttribute("value", Xml(profileName)))));
        foreach (var result in results)
        {
            var testCase = new XElement(
                "testcase",
                new XAttribute("classname", "conformance"),
                new XAttribute("name", $"{result.Check.Id}: {result.Check.Description}"),
                new XAttribute("time", Seconds(result.Duration)));
            if (result.Status == ConformanceStatus.Failed)
            {
                testCase.Add(new XElement(
                    "failure",
                    new XAttribute("message", Xml(result.Message ?? "failed")),
                    new XAttribute("type", result.Check.Rule),
                    Xml(Details(result))));
            }
            else if (result.Status == ConformanceStatus.Warning)
            {
                // An advisory check the worker does not follow passes the suite: a testcase without
                // failure, its report in system-out, which CI systems show with the test.
                testCase.Add(new XElement(
                    "system-out",
                    Xml("WARNING (advisory: a recommendation of the protocol, not a requirement; --strict makes it fail)\n" + Details(result))));
            }
            else if (result.Status == ConformanceStatus.NotApplicable)
            {
                testCase.Add(new XElement("skipped", new XAttribute("message", Xml(result.Message ?? "not applicable"))));
            }

            suite.Add(testCase);
        }

        return "<?xml version=\"1.0\" encoding=\"utf-8\"?>" + Environment.NewLine + suite.ToString(SaveOptions.None);
    }

    private static string Details(ConformanceResult result) => string.Join(
        "\n",
        $"rule: {result.Check.Rule}",
        $"sent: {ConformanceOutput.Join(result.Sent)}",
        $"received: {ConformanceOutput.Join(result.Received)}",
        $"a correct worker sends: {result.Check.Expected}",
        $"message: {result.Message}");

    private static string Seconds(TimeSpan duration) => duration.TotalSeconds.ToString("0.######", CultureInfo.InvariantCulture);

    /// <summary>Worker text may hold characters XML 1.0 cannot carry; they become U+FFFD.</summary>
    private static string Xml(string text) =>
        string.Concat(text.Select(c => XmlConvert.IsXmlChar(c) || char.IsSurrogate(c) ? c : '\uFFFD'));
}
