using System.Globalization;
using System.Text;
using System.Text.Json;
using Engine.Client.Cli.Parsing;
using Engine.Client.Load;

namespace Engine.Client.Cli.Operations;

/// <summary>The defaults a scenario file's entries fall back to: the command line's workload options.</summary>
internal sealed record ScenarioDefaults(
    string? Format,
    ReadOnlyMemory<byte> Payload,
    Func<LoadInput> Input,
    IReadOnlyDictionary<string, string> TaskContext,
    IReadOnlyDictionary<string, string> SessionConf,
    double CancelShare,
    int? ChunkSize,
    int MaxMessageSize);

/// <summary>
/// <c>load</c>'s JSON files: the scenario file (<c>--scenario</c>) and the stages file
/// (<c>--stages</c>). Their problems are usage errors naming the file and the entry.
/// </summary>
internal static class LoadFiles
{
    /// <summary>
    /// Reads <c>{"scenarios": [ ... ]}</c> (or a bare array): each entry <c>name</c>, <c>weight</c>,
    /// <c>format</c>, <c>payload</c> or <c>payloadFile</c>, <c>input</c> (<c>{rows, batchRows,
    /// batches, columns}</c>) or <c>inputFile</c>, <c>taskContext</c>, <c>sessionConf</c>,
    /// <c>cancelShare</c>; a missing field takes the command line's value. Paths are relative to the file.
    /// The files the scenarios name are added to <paramref name="files"/> when given.
    /// </summary>
    public static List<LoadScenario> ReadScenarios(string path, ScenarioDefaults defaults, List<(string What, string Path)>? files = null)
    {
        var text = Encoding.UTF8.GetString(InputFiles.ReadAllBytes(path, "--scenario"));
        var directory = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        JsonElement list;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new UsageException($"--scenario '{path}' {JsonSyntax.Describe(ex)}", ex);
        }

        using (document)
        {
            list = document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("scenarios", out var s) ? s : document.RootElement;
            if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
            {
                throw new UsageException($"--scenario '{path}' holds no scenario; write {{\"scenarios\": [{{\"name\": \"a\", \"format\": \"echo\", \"weight\": 1}}]}}.");
            }

            var scenarios = new List<LoadScenario>();
            var index = 0;
            foreach (var entry in list.EnumerateArray())
            {
                index++;
                var where = $"--scenario '{path}', scenario {index}";
                if (entry.ValueKind != JsonValueKind.Object)
                {
                    throw new UsageException($"{where} is not an object.");
                }

                var known = new HashSet<string>(StringComparer.Ordinal) { "name", "weight", "format", "payload", "payloadFile", "input", "inputFile", "taskContext", "sessionConf", "cancelShare" };
                if (entry.EnumerateObject().Select(p => p.Name).FirstOrDefault(n => !known.Contains(n)) is { } unknown)
                {
                    throw new UsageException($"{where}: unknown field '{unknown}'; the fields are {string.Join(", ", known)}.");
                }

                var name = String(entry, "name", where) ?? $"scenario{index}";
                var format = String(entry, "format", where) ?? defaults.Format
                    ?? throw new UsageException($"{where} ('{name}') has no format; give \"format\" in it or --format.");
                // As on the command line (--payload with --payload-file, --input with --rows): one
                // field of each pair, never one silently winning over the other.
                Exclusive(entry, "payload", "payloadFile", where, name);
                Exclusive(entry, "input", "inputFile", where, name);
                ReadOnlyMemory<byte> payload = defaults.Payload;
                if (String(entry, "payload", where) is { } payloadText)
                {
                    payload = Encoding.UTF8.GetBytes(payloadText);
                }

                if (String(entry, "payloadFile", where) is { } payloadFile)
                {
                    payload = InputFiles.ReadAllBytes(Path.Combine(directory, payloadFile), $"{where} payloadFile");
                    files?.Add(($"{where} payloadFile", Path.Combine(directory, payloadFile)));
                }

                var scenario = new LoadScenario(name, format, payload)
                {
                    Weight = Number(entry, "weight", where) ?? 1,
                    CancelShare = Number(entry, "cancelShare", where) ?? defaults.CancelShare,
                    ChunkSize = defaults.ChunkSize,
                    MaxMessageSize = defaults.MaxMessageSize,
                };
                if (!(scenario.Weight > 0))
                {
                    throw new UsageException($"{where} ('{name}'): weight must be a positive number.");
                }

                if (scenario.CancelShare is < 0 or > 1)
                {
                    throw new UsageException($"{where} ('{name}'): cancelShare must be from 0 to 1.");
                }

                if (String(entry, "inputFile", where) is { } inputFile)
                {
                    scenario.Input = ReadArrow(Path.Combine(directory, inputFile), $"{where} inputFile");
                    files?.Add(($"{where} inputFile", Path.Combine(directory, inputFile)));
                }
                else if (entry.TryGetProperty("input", out var input))
                {
                    scenario.Input = GenerateInput(
                        Long(input, "rows", where),
                        (int?)Long(input, "batchRows", where),
                        (int?)Long(input, "batches", where),
                        String(input, "columns", where),
                        where);
                }
                else
                {
                    scenario.Input = defaults.Input();
                }

                Fill(scenario.TaskContext, defaults.TaskContext, entry, "taskContext", where);
                Fill(scenario.SessionConf, defaults.SessionConf, entry, "sessionConf", where);
                scenarios.Add(scenario);
            }

            return scenarios;
        }
    }

    /// <summary>Reads <c>[{"duration": "30s", "target": 100}, ...]</c> or <c>{"stages": [...]}</c>.</summary>
    public static List<LoadStage> ReadStages(string path)
    {
        var text = Encoding.UTF8.GetString(InputFiles.ReadAllBytes(path, "--stages"));
        try
        {
            using var document = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var list = document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("stages", out var s) ? s : document.RootElement;
            if (document.RootElement.ValueKind == JsonValueKind.Object && list.ValueKind == JsonValueKind.Object)
            {
                // An object without "stages": name what it holds instead (a typo such as "stage").
                var fields = string.Join(", ", document.RootElement.EnumerateObject().Select(p => $"\"{p.Name}\""));
                throw new UsageException($"--stages '{path}' is an object without a \"stages\" field (it has {(fields.Length == 0 ? "no field" : fields)}); write [{{\"duration\": \"30s\", \"target\": 100}}] or {{\"stages\": [...]}}.");
            }

            if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
            {
                throw new UsageException($"--stages '{path}' holds no stage; write [{{\"duration\": \"30s\", \"target\": 100}}].");
            }

            var stages = new List<LoadStage>();
            var index = 0;
            foreach (var entry in list.EnumerateArray())
            {
                index++;
                var where = $"--stages '{path}', stage {index}";
                if (entry.ValueKind != JsonValueKind.Object)
                {
                    throw new UsageException($"{where} is not an object with \"duration\" and \"target\".");
                }

                if (entry.EnumerateObject().Select(p => p.Name).FirstOrDefault(n => n is not ("duration" or "target")) is { } unknown)
                {
                    throw new UsageException($"{where}: unknown field '{unknown}'; a stage has \"duration\" and \"target\".");
                }

                var durationText = String(entry, "duration", where) ?? throw new UsageException($"{where} has no \"duration\" (for example \"30s\").");
                if (!Durations.TryParse(durationText, out var duration, out var error))
                {
                    throw new UsageException($"{where}: duration {error}");
                }

                var target = Number(entry, "target", where) ?? throw new UsageException($"{where} has no \"target\" (a rate or a concurrency).");
                if (target < 0)
                {
                    throw new UsageException($"{where}: target must be zero or more.");
                }

                stages.Add(new LoadStage(duration, target));
            }

            return stages;
        }
        catch (JsonException ex)
        {
            throw new UsageException($"--stages '{path}' {JsonSyntax.Describe(ex)}", ex);
        }
    }

    /// <summary>
    /// Generated input; its problems are usage errors. Input that would take more than
    /// <see cref="InputFiles.ReadLimit"/> per session (rows times the width of a row, see
    /// <see cref="LoadInput.EstimateBytes"/>) is refused before any of it is made.
    /// </summary>
    public static LoadInput GenerateInput(long? rows, int? batchRows, int? batches, string? columns, string where)
    {
        try
        {
            var fields = LoadInput.ParseColumns(columns ?? "x:int64");
            var (total, perBatch, count) = LoadInput.Shape(rows, batchRows, batches);
            var bytes = LoadInput.EstimateBytes(fields, total, count);
            if (bytes > InputFiles.ReadLimit)
            {
                throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                    $"{where}: {total} rows of {LoadInput.RowBytes(fields):0.###} bytes ({columns ?? "x:int64"}) in {count} batches of {perBatch} rows would take about {ByteSizes.Format((long)Math.Min(bytes, long.MaxValue))} per session, more than the limit of {ByteSizes.Format(InputFiles.ReadLimit)} (the input is held in memory); give fewer rows or narrower columns."));
            }

            return LoadInput.Generate(fields, rows, batchRows, batches);
        }
        catch (FormatException ex)
        {
            throw new UsageException($"{where}: {ex.Message}", ex);
        }
        catch (ArgumentException ex)
        {
            throw new UsageException($"{where}: {ex.Message}", ex);
        }
    }

    /// <summary>An Arrow file's batches, at most <see cref="InputFiles.ReadLimit"/> bytes of it; its problems are usage errors.</summary>
    public static LoadInput ReadArrow(string path, string option)
    {
        var bytes = InputFiles.ReadAllBytes(path, option);
        try
        {
            return LoadInput.FromArrowBytes(bytes, path);
        }
        catch (InvalidDataException ex)
        {
            throw new UsageException($"{option} {ex.Message}", ex);
        }
    }

    private static void Exclusive(JsonElement entry, string one, string other, string where, string name)
    {
        if (entry.TryGetProperty(one, out var a) && a.ValueKind != JsonValueKind.Null && entry.TryGetProperty(other, out var b) && b.ValueKind != JsonValueKind.Null)
        {
            throw new UsageException($"{where} ('{name}'): \"{one}\" and \"{other}\" are both given; give at most one.");
        }
    }

    private static void Fill(IDictionary<string, string> target, IReadOnlyDictionary<string, string> defaults, JsonElement entry, string name, string where)
    {
        foreach (var (key, value) in defaults)
        {
            target[key] = value;
        }

        if (!entry.TryGetProperty(name, out var map))
        {
            return;
        }

        if (map.ValueKind != JsonValueKind.Object)
        {
            throw new UsageException($"{where}: \"{name}\" must be an object of strings.");
        }

        foreach (var property in map.EnumerateObject())
        {
            target[property.Name] = property.Value.ValueKind == JsonValueKind.String
                ? property.Value.GetString()!
                : throw new UsageException($"{where}: \"{name}\".\"{property.Name}\" must be a string.");
        }
    }

    private static string? String(JsonElement e, string name, string where) => !e.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null
        ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString() : throw new UsageException($"{where}: \"{name}\" must be a string.");

    private static double? Number(JsonElement e, string name, string where) => !e.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null
        ? null
        : value.ValueKind == JsonValueKind.Number ? value.GetDouble() : throw new UsageException($"{where}: \"{name}\" must be a number.");

    private static long? Long(JsonElement e, string name, string where) => !e.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null
        ? null
        : value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) && n > 0 && n <= int.MaxValue
            ? n
            : throw new UsageException($"{where}: \"{name}\" must be a whole number from 1 to {int.MaxValue.ToString(CultureInfo.InvariantCulture)}.");
}
