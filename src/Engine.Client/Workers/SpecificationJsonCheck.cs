using System.Globalization;
using System.Text.Json;
using Google.Protobuf.Reflection;

namespace Engine.Client.Workers;

/// <summary>
/// Walks a JSON document against the protobuf descriptor before Google.Protobuf's parser sees it,
/// so that every unknown field and wrongly shaped value is reported at once with its JSON path
/// (the parser stops at the first one and names no path).
/// </summary>
internal static class SpecificationJsonCheck
{
    private const string ConnectionMessage = "WorkerConnectionSpec";

    /// <summary>Parses <paramref name="json"/> as JSON; a syntax error becomes one problem naming line and position.</summary>
    public static List<string> Check(string json, MessageDescriptor root)
    {
        var problems = new List<string>();
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException ex)
        {
            var where = ex.LineNumber is { } line
                ? string.Create(CultureInfo.InvariantCulture, $" at line {line + 1}, position {(ex.BytePositionInLine ?? 0) + 1}")
                : string.Empty;
            problems.Add($"the content is not valid JSON{where}: {FirstSentence(ex.Message)} Fix the syntax (comments and trailing commas are not allowed).");
            return problems;
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                problems.Add($"the JSON document is {Describe(document.RootElement.ValueKind)}; a worker specification is a JSON object ({{ \"direct\": {{ ... }}, \"capabilities\": {{ ... }} }}).");
                return problems;
            }

            CheckMessage(document.RootElement, root, string.Empty, problems);
        }

        return problems;
    }

    private static void CheckMessage(JsonElement element, MessageDescriptor descriptor, string path, List<string> problems)
    {
        var oneofs = new Dictionary<OneofDescriptor, string>();
        foreach (var property in element.EnumerateObject())
        {
            var fieldPath = Join(path, property.Name);
            var field = descriptor.FindFieldByName(property.Name)
                ?? descriptor.Fields.InDeclarationOrder().FirstOrDefault(f => string.Equals(f.JsonName, property.Name, StringComparison.Ordinal));
            if (field is null)
            {
                problems.Add(UnknownField(descriptor, fieldPath, property.Name));
                continue;
            }

            var value = property.Value;
            if (value.ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            if (field.RealContainingOneof is { } oneof)
            {
                if (oneofs.TryGetValue(oneof, out var other))
                {
                    problems.Add(string.Equals(descriptor.Name, ConnectionMessage, StringComparison.Ordinal)
                        ? $"{(path.Length == 0 ? "(root)" : path)}: sets both {other} and {property.Name}; a worker has one transport, so keep exactly one."
                        : $"{(path.Length == 0 ? "(root)" : path)}: sets both {other} and {property.Name}, which are alternatives ({oneof.Name}); keep one.");
                    continue;
                }

                oneofs[oneof] = property.Name;
            }

            if (field.IsMap)
            {
                if (value.ValueKind != JsonValueKind.Object)
                {
                    problems.Add($"{fieldPath}: is {Describe(value.ValueKind)}; it must be an object of names to string values, e.g. {{ \"NAME\": \"value\" }}.");
                    continue;
                }

                var valueField = field.MessageType.FindFieldByNumber(2);
                foreach (var entry in value.EnumerateObject())
                {
                    CheckSingle(entry.Value, valueField, $"{fieldPath}[\"{entry.Name}\"]", problems);
                }
            }
            else if (field.IsRepeated)
            {
                if (value.ValueKind != JsonValueKind.Array)
                {
                    problems.Add($"{fieldPath}: is {Describe(value.ValueKind)}; it must be an array, e.g. [{Example(field)}].");
                    continue;
                }

                var index = 0;
                foreach (var item in value.EnumerateArray())
                {
                    CheckSingle(item, field, string.Create(CultureInfo.InvariantCulture, $"{fieldPath}[{index}]"), problems);
                    index++;
                }
            }
            else
            {
                CheckSingle(value, field, fieldPath, problems);
            }
        }
    }

    private static void CheckSingle(JsonElement value, FieldDescriptor field, string path, List<string> problems)
    {
        switch (field.FieldType)
        {
            case FieldType.Message:
                if (value.ValueKind == JsonValueKind.Object)
                {
                    CheckMessage(value, field.MessageType, path, problems);
                }
                else
                {
                    problems.Add($"{path}: is {Describe(value.ValueKind)}; it must be an object ({{ }} when it has no fields).");
                }

                break;
            case FieldType.String:
                if (value.ValueKind != JsonValueKind.String)
                {
                    problems.Add($"{path}: is {Describe(value.ValueKind)}; it must be a string (quote it).");
                }

                break;
            case FieldType.Bool:
                if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                {
                    problems.Add($"{path}: is {Describe(value.ValueKind)}; it must be true or false.");
                }

                break;
            case FieldType.Int32:
            case FieldType.SInt32:
            case FieldType.SFixed32:
                var isInt = value.ValueKind switch
                {
                    JsonValueKind.Number => value.TryGetInt32(out _),
                    JsonValueKind.String => int.TryParse(value.GetString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _),
                    _ => false,
                };
                if (!isInt)
                {
                    problems.Add($"{path}: {Show(value)} is not a 32-bit integer; give a whole number of milliseconds, e.g. 10000.");
                }

                break;
            case FieldType.Enum:
                CheckEnum(value, field.EnumType, path, problems);
                break;
            default:
                break;
        }
    }

    private static void CheckEnum(JsonElement value, EnumDescriptor type, string path, List<string> problems)
    {
        var names = string.Join(", ", type.Values.Where(v => v.Number != 0).Select(v => v.Name));
        if (value.ValueKind == JsonValueKind.String)
        {
            var name = value.GetString();
            if (type.FindValueByName(name ?? string.Empty) is null)
            {
                problems.Add($"{path}: '{name}' is not a {type.Name} value; use one of {names}.");
            }
        }
        else if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out _))
        {
            problems.Add($"{path}: is {Describe(value.ValueKind)}; it must be a {type.Name} name, one of {names}.");
        }
    }

    private static string UnknownField(MessageDescriptor descriptor, string path, string name)
    {
        var known = string.Join(", ", descriptor.Fields.InDeclarationOrder().Select(f => f.JsonName));
        if (string.Equals(descriptor.Name, ConnectionMessage, StringComparison.Ordinal))
        {
            return $"{path}: '{name}' is not a transport this engine supports; set exactly one of unixDomainSocket (recommended for local workers) or tcp, e.g. \"connection\": {{ \"unixDomainSocket\": {{}} }}.";
        }

        return known.Length == 0
            ? $"{path}: unknown field; {descriptor.Name} has no fields, so write {{}}."
            : $"{path}: unknown field of {descriptor.Name}; check the spelling. Known fields: {known}.";
    }

    private static string Example(FieldDescriptor field) => field.FieldType switch
    {
        FieldType.String => "\"value\"",
        FieldType.Enum => "\"" + (field.EnumType.Values.FirstOrDefault(v => v.Number != 0)?.Name ?? string.Empty) + "\"",
        _ => "...",
    };

    private static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

    private static string Show(JsonElement value) => value.ValueKind == JsonValueKind.String ? $"\"{value.GetString()}\"" : value.GetRawText();

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "a value of unknown kind",
    };

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        var text = (cut > 0 ? message[..cut] : message).Replace(" Change the reader options.", string.Empty, StringComparison.Ordinal).Trim();
        return text.EndsWith('.') ? text : text + ".";
    }
}
