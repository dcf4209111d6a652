using System.CommandLine;
using Engine.Client.Cli.Operations;
using Engine.Client.Cli.Output;
using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli.Commands;

/// <summary><c>engine-client spec validate</c>: checks a worker specification file.</summary>
internal static class SpecCommand
{
    public static Command Create(CliContext context)
    {
        var file = new Argument<string>("file") { Description = "The worker specification: protobuf JSON or binary protobuf of UDFWorkerSpecification." };
        var json = CommonOptions.Json("Print one JSON object on stdout.");
        var validate = new Command("validate", "Check a worker specification against every rule of the protocol: prints 'valid' and a summary (exit 0), or every problem (exit 2).")
        {
            file, json,
        };
        validate.SetAction((parse, _) => CliApp.GuardAsync(context, parse, async () =>
        {
            var path = parse.GetValue(file)!;
            var result = SpecValidation.Validate(path);
            if (parse.GetValue(json))
            {
                await context.Console.Out.WriteLineAsync(SpecOutput.Json(result));
            }
            else
            {
                SpecOutput.Text(result, Renderer.For(context.Console));
            }

            return result.Valid ? ExitCodes.Success : ExitCodes.Usage;
        }));

        return new Command("spec", "Worker specifications.") { validate };
    }
}

/// <summary>The result of validating a specification file.</summary>
internal sealed record SpecValidationResult(string Path, bool Valid, IReadOnlyList<string> Problems, IReadOnlyList<(string Key, string Value)> Summary);

/// <summary>Validation of a specification file; an unreadable file is a <see cref="UsageException"/>.</summary>
internal static class SpecValidation
{
    public static SpecValidationResult Validate(string path)
    {
        WorkerSpecification specification;
        try
        {
            specification = WorkerSpecification.Load(path);
        }
        catch (WorkerSpecificationException ex) when (ex.InnerException is IOException or UnauthorizedAccessException || ex.Problems.Count == 0 || IsEmptyFile(path))
        {
            throw new UsageException($"'{path}': {(ex.Problems.Count > 0 ? ex.Problems[0] : ex.Message)}", ex);
        }
        catch (WorkerSpecificationException ex)
        {
            // The file was read but is not a specification: its problems are the result.
            return new SpecValidationResult(path, false, ex.Problems, []);
        }

        return specification.IsValid
            ? new SpecValidationResult(path, true, [], Summarize(specification))
            : new SpecValidationResult(path, false, specification.Problems, []);
    }

    private static bool IsEmptyFile(string path)
    {
        try
        {
            return new FileInfo(path) is { Exists: true, Length: 0 };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return false;
        }
    }

    private static List<(string, string)> Summarize(WorkerSpecification specification)
    {
        var runner = specification.Runner;
        var rows = new List<(string, string)>
        {
            ("runner", runner.ToString()),
            ("runner executable", LocateExecutable(runner, specification.BaseDirectory)),
        };
        if (runner.EnvironmentVariables.Count > 0)
        {
            rows.Add(("runner environment", string.Join(", ", runner.EnvironmentVariables.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}={e.Value}"))));
        }

        rows.Add(("transport", specification.Transport == WorkerTransport.Tcp ? "tcp (loopback port)" : "unix domain socket"));
        rows.Add(("reuse", specification.SupportsReuse ? "yes" : "no"));
        rows.Add(("concurrent sessions", specification.SupportsConcurrentUdfs ? "yes" : "no"));
        rows.Add(("initialization timeout", Describe(specification.InitializationTimeout, specification.RequestedInitializationTimeout)));
        rows.Add(("graceful termination", Describe(specification.GracefulTerminationTimeout, specification.RequestedGracefulTerminationTimeout)));
        rows.Add(("environment verification", specification.EnvironmentVerification?.ToString() ?? "(none)"));
        rows.Add(("installation", specification.Installation?.ToString() ?? "(none)"));
        rows.Add(("environment cleanup", specification.EnvironmentCleanup?.ToString() ?? "(none)"));
        return rows;
    }

    /// <summary>Where the runner's executable is found, the way the launch will look for it, or why it is not.</summary>
    private static string LocateExecutable(WorkerCommand runner, string? baseDirectory)
    {
        var executable = runner.Executable;
        if (Path.IsPathFullyQualified(executable) || executable.Contains('/', StringComparison.Ordinal))
        {
            var full = Path.GetFullPath(executable, baseDirectory ?? Directory.GetCurrentDirectory());
            return File.Exists(full) ? full : $"{full} (not found: the launch will fail)";
        }

        var searchPath = runner.EnvironmentVariables.TryGetValue("PATH", out var own) ? own : Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        foreach (var directory in searchPath.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, executable);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return $"not found on PATH (the launch will fail unless PATH changes)";
    }

    private static string Describe(TimeSpan effective, TimeSpan? requested) =>
        requested is null ? $"{Durations.Format(effective)} (default)"
        : requested == effective ? Durations.Format(effective)
        : $"{Durations.Format(effective)} (asks for {Durations.Format(requested.Value)}, capped)";
}

/// <summary>Output of <c>spec validate</c>.</summary>
internal static class SpecOutput
{
    public static string Json(SpecValidationResult result) => JsonOutput.Document(json =>
    {
        json.WriteStartObject();
        json.WriteString("file", result.Path);
        json.WriteBoolean("valid", result.Valid);
        json.WriteStartArray("problems");
        foreach (var problem in result.Problems)
        {
            json.WriteStringValue(problem);
        }

        json.WriteEndArray();
        if (result.Valid)
        {
            json.WriteStartObject("summary");
            foreach (var (key, value) in result.Summary)
            {
                json.WriteString(CamelCase(key), value);
            }

            json.WriteEndObject();
        }
        else
        {
            json.WriteNull("summary");
        }

        json.WriteEndObject();
    });

    /// <summary><c>initialization timeout</c> becomes <c>initializationTimeout</c>.</summary>
    public static string CamelCase(string label)
    {
        var words = label.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return string.Concat(words.Select((w, i) => i == 0 ? w.ToLowerInvariant() : char.ToUpperInvariant(w[0]) + w[1..].ToLowerInvariant()));
    }

    public static void Text(SpecValidationResult result, Renderer output)
    {
        if (result.Valid)
        {
            output.Line($"valid: {result.Path}");
            output.KeyValues(result.Summary);
            return;
        }

        output.Line($"invalid: {result.Path} has {result.Problems.Count} problem{(result.Problems.Count == 1 ? string.Empty : "s")}");
        foreach (var problem in result.Problems)
        {
            output.Line("  - " + CliApp.OneLine(problem));
        }
    }
}
