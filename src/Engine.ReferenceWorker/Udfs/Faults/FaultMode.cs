using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Engine.ReferenceWorker.Udfs.Faults;

/// <summary>The misbehaviours of the <c>fault</c> format; see <see cref="FaultUdf"/> for each wire sequence.</summary>
internal enum FaultKind
{
    ErrorInsteadOfInit,
    InitError,
    DataBeforeInit,
    ErrorAfterInit,
    FinishEarly,
    FinishBeforeInit,
    CancelBeforeInit,
    EndBeforeInit,
    EmptyEnvelope,
    UserError,
    BlankUserError,
    EscapesUserError,
    FinishError,
    CancelCallbackError,
    IgnoreCancel,
    IgnoreFinishAndCancel,
    Silent,
    StatusError,
    Exit,
    Slow,
    BigOutput,
    StopReading,
}

/// <summary>A parsed fault payload: <c>name</c> or <c>name:argument</c>.</summary>
internal readonly record struct FaultMode(FaultKind Kind, long Argument)
{
    private static readonly (string Name, FaultKind Kind, string? Argument)[] Table =
    [
        ("error-instead-of-init", FaultKind.ErrorInsteadOfInit, null),
        ("init-error", FaultKind.InitError, null),
        ("data-before-init", FaultKind.DataBeforeInit, null),
        ("error-after-init", FaultKind.ErrorAfterInit, null),
        ("finish-early", FaultKind.FinishEarly, null),
        ("finish-before-init", FaultKind.FinishBeforeInit, null),
        ("cancel-before-init", FaultKind.CancelBeforeInit, null),
        ("end-before-init", FaultKind.EndBeforeInit, null),
        ("empty-envelope", FaultKind.EmptyEnvelope, null),
        ("user-error", FaultKind.UserError, null),
        ("blank-user-error", FaultKind.BlankUserError, null),
        ("escapes-user-error", FaultKind.EscapesUserError, null),
        ("finish-error", FaultKind.FinishError, null),
        ("cancel-callback-error", FaultKind.CancelCallbackError, null),
        ("ignore-cancel", FaultKind.IgnoreCancel, null),
        ("ignore-finish-and-cancel", FaultKind.IgnoreFinishAndCancel, null),
        ("silent", FaultKind.Silent, null),
        ("status-error", FaultKind.StatusError, null),
        ("exit", FaultKind.Exit, "code"),
        ("slow", FaultKind.Slow, "ms"),
        ("big-output", FaultKind.BigOutput, "bytes"),
        ("stop-reading", FaultKind.StopReading, "batches"),
    ];

    /// <summary>Every fault, as written in a payload (<c>exit:&lt;code&gt;</c> for those taking an argument).</summary>
    public static IReadOnlyList<string> Names { get; } =
        [.. Table.Select(static f => f.Argument is null ? f.Name : $"{f.Name}:<{f.Argument}>")];

    public static bool TryParse(string text, out FaultMode mode, [NotNullWhen(false)] out string? error)
    {
        mode = default;
        text = text.Trim();
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var name = colon < 0 ? text : text[..colon];
        var argument = colon < 0 ? null : text[(colon + 1)..];

        foreach (var (known, kind, argumentName) in Table)
        {
            if (!string.Equals(known, name, StringComparison.Ordinal))
            {
                continue;
            }

            if (argumentName is null)
            {
                if (argument is not null)
                {
                    error = $"fault '{name}' takes no argument";
                    return false;
                }

                mode = new FaultMode(kind, 0);
                error = null;
                return true;
            }

            if (argument is null || !long.TryParse(argument, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || !InRange(kind, value))
            {
                error = $"fault '{name}' needs an argument: {name}:<{argumentName}> ({RangeText(kind)})";
                return false;
            }

            mode = new FaultMode(kind, value);
            error = null;
            return true;
        }

        error = $"unknown fault '{text}'; known faults: {string.Join(", ", Names)}";
        return false;
    }

    private static bool InRange(FaultKind kind, long value) => kind switch
    {
        FaultKind.Exit => value <= 255,
        FaultKind.Slow => value <= int.MaxValue,
        FaultKind.BigOutput => value <= int.MaxValue,
        FaultKind.StopReading => true,
        _ => true,
    };

    private static string RangeText(FaultKind kind) => kind switch
    {
        FaultKind.Exit => "an exit code from 0 to 255",
        FaultKind.Slow => "a delay per batch in milliseconds",
        FaultKind.StopReading => "how many batches to echo before reading stops",
        _ => "a number of bytes, 0 for empty data messages",
    };
}
