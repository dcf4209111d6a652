using System.Reflection;
using Microsoft.Extensions.Logging;
using NUnit.Framework.Interfaces;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>
/// Marks a test, or a whole fixture, whose engine is expected to log at Error or Critical level,
/// which the shared fixture bases otherwise fail the test for.
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class, Inherited = true)]
public sealed class ExpectErrorLogsAttribute : Attribute
{
}

/// <summary>The check behind <see cref="ExpectErrorLogsAttribute"/>: no Error or Critical log where none is expected.</summary>
internal static class ErrorLogs
{
    /// <summary>
    /// Fails the current test if <paramref name="logs"/> holds an entry at Error level or above,
    /// unless the test or its fixture is marked <see cref="ExpectErrorLogsAttribute"/>. A test that
    /// failed already is left with its own failure.
    /// </summary>
    public static void AssertNoneUnexpected(LogCapture logs, object fixture)
    {
        if (TestContext.CurrentContext.Result.Outcome.Status == TestStatus.Failed || Expected(fixture))
        {
            return;
        }

        Assert.That(
            Errors(logs),
            Is.Empty,
            "the engine logged at Error level or above during a test that expects no such log; mark the test [ExpectErrorLogs] if it should");
    }

    /// <summary>The entries at Error level or above, one line each: level, category, event id, message and exception type.</summary>
    public static IReadOnlyList<string> Errors(LogCapture logs) =>
        [.. logs.Entries
            .Where(e => e.Level >= LogLevel.Error && e.Level != LogLevel.None)
            .Select(e => $"{e.Level} {e.Category}[{e.EventId.Id}]: {e.Message}{(e.Exception is null ? "" : " (" + e.Exception.GetType().Name + ")")}")];

    private static bool Expected(object fixture)
    {
        var type = fixture.GetType();
        if (type.IsDefined(typeof(ExpectErrorLogsAttribute), inherit: true))
        {
            return true;
        }

        var name = TestContext.CurrentContext.Test.MethodName;
        return name is not null && type
            .GetMethods(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
            .Any(m => m.Name == name && m.IsDefined(typeof(ExpectErrorLogsAttribute), inherit: true));
    }
}
