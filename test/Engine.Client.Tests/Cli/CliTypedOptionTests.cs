extern alias cli;

using System.CommandLine;
using System.CommandLine.Help;
using cli::Engine.Client.Cli;
using cli::Engine.Client.Cli.Hosting;

namespace Engine.Client.Tests.Cli;

/// <summary>
/// Every option of every command that takes a value other than free text, given a value that does
/// not parse: exit 2, nothing on stdout, one stderr line naming the option in the user's terms,
/// never a .NET type name. The tree is walked, so an option added later is covered too.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class CliTypedOptionTests
{
    private static readonly string[] DotNetWords = ["System.", "Nullable", "Cannot parse", "Int32", "Int64", "Double", "Exception"];

    public static IEnumerable<TestCaseData> TypedOptions()
    {
        var root = CliApp.BuildRoot(Context(new StringWriter(), new StringWriter()));
        foreach (var (path, option) in Walk(root, []))
        {
            var type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
            string[] values = type == typeof(int) || type == typeof(long) ? ["abc", "1.5"] : ["abc"];
            foreach (var bad in values)
            {
                yield return new TestCaseData(path, option.Name, bad).SetName($"Typed option: engine-client {string.Join(' ', path)} {option.Name} {bad}");
            }
        }
    }

    [Test]
    public void The_walk_finds_the_numeric_options_of_load_and_workers_start()
    {
        var names = TypedOptions().Select(c => string.Join(' ', (string[])c.Arguments[0]!) + " " + (string)c.Arguments[1]!).ToHashSet();

        Assert.That(names, Is.SupersetOf(new[]
        {
            "load --rate", "load --concurrency", "load --sessions", "load --rows", "load --batch-rows", "load --batches", "load --workers",
            "load --cancel-share", "load --max-in-flight", "load --seed", "workers start --count", "run --chunk-size", "run --timeout",
        }));
    }

    [TestCaseSource(nameof(TypedOptions))]
    public async Task A_value_that_does_not_parse_is_bad_usage_naming_the_option(string[] path, string option, string bad)
    {
        var (exitCode, stdout, stderr) = await RunAsync([.. path, option, bad]);

        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2), stderr);
            Assert.That(stdout, Is.Empty);
            Assert.That(lines, Has.Length.EqualTo(1), stderr);
            Assert.That(stderr, Does.StartWith($"engine-client {string.Join(' ', path)}: {option}"));
            Assert.That(stderr, Does.Contain($"'{bad}'"));
            foreach (var word in DotNetWords)
            {
                Assert.That(stderr, Does.Not.Contain(word));
            }
        });
    }

    [TestCase("load --rate abc", "--rate: 'abc' is not a number")]
    [TestCase("load --cancel-share abc", "--cancel-share: 'abc' is not a number")]
    [TestCase("load --concurrency abc", "--concurrency: 'abc' is not a whole number")]
    [TestCase("load --sessions 1.5", "--sessions: '1.5' is not a whole number")]
    [TestCase("load --rows x", "--rows: 'x' is not a whole number")]
    [TestCase("load --workers abc", "--workers: 'abc' is not a whole number")]
    [TestCase("load --max-in-flight abc", "--max-in-flight: 'abc' is not a whole number")]
    [TestCase("load --seed 99999999999", "--seed: '99999999999' is out of range; give a whole number from -2147483648 to 2147483647")]
    [TestCase("workers start --spec x.json --count abc", "--count: 'abc' is not a whole number")]
    [TestCase("workers start --spec x.json --count 1.5", "--count: '1.5' is not a whole number")]
    public async Task Numbers_are_explained_in_the_users_terms(string args, string message)
    {
        var (exitCode, stdout, stderr) = await RunAsync(args.Split(' '));

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(2), stderr);
            Assert.That(stdout, Is.Empty);
            Assert.That(stderr, Does.Contain(message));
        });
    }

    private static IEnumerable<(string[] Path, Option Option)> Walk(Command command, string[] path)
    {
        foreach (var option in command.Options)
        {
            var type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
            if (type != typeof(string) && type != typeof(string[]) && type != typeof(bool) && option is not (HelpOption or VersionOption))
            {
                yield return (path, option);
            }
        }

        foreach (var subcommand in command.Subcommands)
        {
            foreach (var found in Walk(subcommand, [.. path, subcommand.Name]))
            {
                yield return found;
            }
        }
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exitCode = await CliApp.RunAsync(args, Context(stdout, stderr)).WaitAsync(TimeSpan.FromSeconds(30));
        return (exitCode, stdout.ToString(), stderr.ToString());
    }

    private static CliContext Context(StringWriter stdout, StringWriter stderr) => new(
        new CliConsole(stdout, stderr, outputIsTerminal: false, () => Stream.Null, () => Stream.Null),
        InterruptSignals.None());
}
