using System.Text.Json;

namespace Engine.Client.Tests.Cli;

/// <summary><c>engine-client spec validate</c>.</summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class CliSpecTests
{
    [Test]
    public async Task A_valid_specification_prints_valid_and_a_summary()
    {
        var result = await CliProcess.RunAsync("spec", "validate", CliTestFiles.ValidSpec);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Multiple(() =>
        {
            Assert.That(lines[0], Is.EqualTo($"valid: {CliTestFiles.ValidSpec}"));
            Assert.That(result.Stdout, Does.Match("transport +unix domain socket"));
            Assert.That(result.Stdout, Does.Match("reuse +yes"));
            Assert.That(result.Stdout, Does.Match("initialization timeout +20 s"));
            Assert.That(result.Stdout, Does.Match("graceful termination +5 s \\(default\\)"));
            Assert.That(result.Stdout, Does.Contain("runner executable"));
            Assert.That(result.Stderr, Is.Empty);
        });
    }

    [Test]
    public async Task The_example_specification_of_the_docs_is_valid()
    {
        var example = Path.Combine(RepositoryRoot(), "docs", "examples", "reference-worker.spec.json");

        var result = await CliProcess.RunAsync("spec", "validate", example);

        Assert.That(result.ExitCode, Is.EqualTo(0), result.ToString());
        Assert.That(result.Stdout, Does.StartWith("valid: "));
    }

    [Test]
    public async Task An_unknown_field_is_listed_together_with_the_rules_problems()
    {
        var spec = CliTestFiles.NewPath(".spec.json");
        await File.WriteAllTextAsync(spec, """{ "direct": { "runner": { "command": [] }, "colour": "blue" } }""");

        var result = await CliProcess.RunAsync("spec", "validate", spec);

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Multiple(() =>
        {
            Assert.That(lines[0], Is.EqualTo($"invalid: {spec} has 4 problems"), result.ToString());
            Assert.That(lines.Skip(1), Has.One.StartsWith("  - direct.colour: unknown field"));
            foreach (var problem in CliTestFiles.InvalidSpecProblems)
            {
                Assert.That(lines.Skip(1), Has.One.StartsWith("  - " + problem), problem);
            }
        });
    }

    [Test]
    public async Task An_invalid_specification_lists_every_problem_and_exits_2()
    {
        var result = await CliProcess.RunAsync("spec", "validate", CliTestFiles.InvalidSpec);

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Multiple(() =>
        {
            Assert.That(lines[0], Is.EqualTo($"invalid: {CliTestFiles.InvalidSpec} has 3 problems"));
            Assert.That(lines.Skip(1), Has.Exactly(3).StartsWith("  - "));
            foreach (var problem in CliTestFiles.InvalidSpecProblems)
            {
                Assert.That(lines.Skip(1), Has.One.StartsWith("  - " + problem), problem);
            }

            Assert.That(result.Stderr, Is.Empty);
        });
    }

    [Test]
    public async Task Json_lists_the_problems()
    {
        var result = await CliProcess.RunAsync("spec", "validate", CliTestFiles.InvalidSpec, "--json");

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Multiple(() =>
        {
            Assert.That(json.RootElement.GetProperty("valid").GetBoolean(), Is.False);
            Assert.That(json.RootElement.GetProperty("problems").GetArrayLength(), Is.EqualTo(3));
            Assert.That(json.RootElement.GetProperty("summary").ValueKind, Is.EqualTo(JsonValueKind.Null));
        });
    }

    [Test]
    public async Task A_file_that_is_not_a_specification_lists_its_problem_and_exits_2()
    {
        var result = await CliProcess.RunAsync("spec", "validate", CliTestFiles.NotJson);

        Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
        Assert.That(result.Stdout, Does.StartWith($"invalid: {CliTestFiles.NotJson} has 1 problem"));
        Assert.That(result.Stdout, Does.Contain("not valid JSON at line 1"));
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Engine.Client.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Engine.Client.sln above {AppContext.BaseDirectory}.");
    }
}
