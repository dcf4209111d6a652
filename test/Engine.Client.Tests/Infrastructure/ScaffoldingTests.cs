using System.Collections;
using System.Reflection;
using System.Text.RegularExpressions;
using Engine.Client.Tests.Workers;
using Microsoft.Extensions.Logging;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>
/// The shared test scaffolding keeps its promises: test names are unique, a test named after a
/// scenario of docs/conformance.md (<c>A05_…</c>, <c>D25_D26_…</c>) names a row that lists it, and
/// the error-log check fails where it should.
/// </summary>
public sealed partial class ScaffoldingTests
{
    [Test]
    public void No_two_tests_of_a_fixture_share_a_name()
    {
        var duplicates = TestFixtures()
            .SelectMany(type => TestNames(type).GroupBy(n => n).Where(g => g.Count() > 1).Select(g => $"{type.Name}.{g.Key}"))
            .ToList();

        Assert.That(duplicates, Is.Empty);
    }

    [Test]
    public void Every_scenario_id_on_a_test_is_spelled_one_way_and_names_the_row_of_docs_conformance_md_that_lists_the_test()
    {
        var rows = ConformanceRows();
        var problems = new List<string>();
        var spellings = new Dictionary<string, HashSet<string>>();
        foreach (var type in TestFixtures())
        {
            foreach (var name in TestNames(type).Distinct())
            {
                var prefix = IdPrefix().Match(name);
                if (!prefix.Success)
                {
                    continue;
                }

                foreach (var spelled in prefix.Value.Split('_', StringSplitOptions.RemoveEmptyEntries))
                {
                    var id = Normalize(spelled);
                    if (!spellings.TryGetValue(id, out var forms))
                    {
                        spellings[id] = forms = [];
                    }

                    forms.Add(spelled);
                    if (!rows.TryGetValue(id, out var row))
                    {
                        problems.Add($"{type.Name}.{name}: docs/conformance.md has no row {id}");
                    }
                    else if (!Lists(row, name))
                    {
                        problems.Add($"{type.Name}.{name}: row {id} of docs/conformance.md does not list it");
                    }
                }
            }
        }

        problems.AddRange(spellings.Where(s => s.Value.Count > 1).Select(s => $"{s.Key} is spelled {string.Join(" and ", s.Value.Order())}"));
        Assert.That(problems, Is.Empty);
    }

    [Test]
    public void The_error_log_check_reports_Error_and_Critical_entries_and_nothing_below()
    {
        using var logs = new LogCapture();
        var logger = logs.Factory.CreateLogger("Engine.Client.Sessions");
        Write(logger, LogLevel.Warning, "a warning");
        Write(logger, LogLevel.Information, "information");
        Assert.That(ErrorLogs.Errors(logs), Is.Empty);

        Write(logger, LogLevel.Error, "an error", 7, new InvalidOperationException("boom"));
        Write(logger, LogLevel.Critical, "a critical failure");

        Assert.That(ErrorLogs.Errors(logs), Is.EqualTo(new[]
        {
            "Error Engine.Client.Sessions[7]: an error (InvalidOperationException)",
            "Critical Engine.Client.Sessions[0]: a critical failure",
        }));
    }

    internal static void Write(ILogger logger, LogLevel level, string message, int eventId = 0, Exception? exception = null) =>
        logger.Log(level, new EventId(eventId), message, exception, (text, _) => text);

    private static string Normalize(string id) => id[..1] + int.Parse(id[1..], System.Globalization.CultureInfo.InvariantCulture).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Whether a row names the test in full, or by a prefix written <c>Name_...</c>.</summary>
    private static bool Lists(string row, string name) =>
        row.Contains(name, StringComparison.Ordinal) ||
        Abbreviation().Matches(row).Any(m => m.Groups[1].Value.Length >= 4 && name.StartsWith(m.Groups[1].Value, StringComparison.Ordinal));

    /// <summary>The first table row of docs/conformance.md for each id; a row <c>D25/D26</c> stands for both.</summary>
    private static Dictionary<string, string> ConformanceRows()
    {
        var rows = new Dictionary<string, string>();
        foreach (var line in File.ReadLines(Path.Combine(Specs.RepositoryRoot(), "docs", "conformance.md")))
        {
            var row = RowId().Match(line);
            if (row.Success)
            {
                foreach (var id in row.Groups[1].Value.Split('/'))
                {
                    rows.TryAdd(Normalize(id), line);
                }
            }
        }

        return rows;
    }

    private static IEnumerable<Type> TestFixtures() =>
        typeof(ScaffoldingTests).Assembly.GetTypes().Where(t => t is { IsClass: true, IsAbstract: false } && TestMethods(t).Any());

    private static IEnumerable<MethodInfo> TestMethods(Type type) =>
        type.GetMethods(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public)
            .Where(m => m.IsDefined(typeof(TestAttribute)) || m.IsDefined(typeof(TestCaseAttribute)) || m.IsDefined(typeof(TestCaseSourceAttribute)) || m.IsDefined(typeof(TheoryAttribute)));

    /// <summary>A fixture's test names: each method's, and each case's explicit name.</summary>
    private static IEnumerable<string> TestNames(Type type)
    {
        foreach (var method in TestMethods(type))
        {
            yield return method.Name;
            foreach (var name in method.GetCustomAttributes<TestCaseAttribute>().Select(c => c.TestName).OfType<string>())
            {
                yield return name;
            }

            foreach (var source in method.GetCustomAttributes<TestCaseSourceAttribute>())
            {
                foreach (var name in CaseNames(source.SourceType ?? type, source.SourceName))
                {
                    yield return name;
                }
            }
        }
    }

    private static IEnumerable<string> CaseNames(Type type, string? sourceName)
    {
        const BindingFlags Static = BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;
        var value = sourceName is null ? null
            : type.GetProperty(sourceName, Static)?.GetValue(null)
            ?? type.GetField(sourceName, Static)?.GetValue(null)
            ?? (type.GetMethod(sourceName, Static, Type.EmptyTypes) is { } method ? method.Invoke(null, null) : null);
        return value is IEnumerable cases ? cases.OfType<TestCaseData>().Select(c => c.TestName).OfType<string>() : [];
    }

    [GeneratedRegex(@"^(?:[A-D]\d{1,2}_)+")]
    private static partial Regex IdPrefix();

    [GeneratedRegex(@"^\|\s*([A-D]\d{1,2}(?:/[A-D]\d{1,2})*)\s*\|")]
    private static partial Regex RowId();

    [GeneratedRegex(@"([A-Za-z0-9_]+)\.\.\.")]
    private static partial Regex Abbreviation();
}

/// <summary>The scripted fixture base hands each test's clients its log capture, and <see cref="ExpectErrorLogsAttribute"/> lets a test log errors.</summary>
public sealed class ScriptedWorkerFixtureTests() : ScriptedWorkerFixture(HostKind.InProcess)
{
    [Test]
    public async Task A_client_of_the_fixture_logs_its_sessions_into_the_tests_capture()
    {
        Host.Use(Scripts.Echo);
        using var client = Host.CreateClient();
        var session = client.OpenSession(TaskTimeouts.HugeTimeouts(), lease: null);
        await session.InitAsync(new SessionInit(System.Text.Encoding.UTF8.GetBytes("p"), "test")).DefaultTimeout();
        await session.CloseAsync().DefaultTimeout();

        var ended = await Logs.WaitFor(e => e.EventId.Id == 105).DefaultTimeout();

        Assert.That(ended.Category, Does.StartWith("Engine.Client"));
        Assert.That(ErrorLogs.Errors(Logs), Is.Empty);
    }

    [Test]
    [ExpectErrorLogs]
    public void A_test_marked_ExpectErrorLogs_may_log_at_Error_level()
    {
        ScaffoldingTests.Write(Logs.Factory.CreateLogger("Engine.Client.Sessions"), LogLevel.Error, "expected by this test");

        Assert.That(ErrorLogs.Errors(Logs), Has.Count.EqualTo(1));
    }
}
