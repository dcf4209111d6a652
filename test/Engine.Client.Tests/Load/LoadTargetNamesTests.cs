extern alias cli;

using FleetTargets = cli::Engine.Client.Cli.Operations.FleetTargets;
using LoadCommand = cli::Engine.Client.Cli.Commands.LoadCommand;
using ShellText = cli::Engine.Client.Cli.Output.ShellText;

namespace Engine.Client.Tests.Load;

/// <summary>How <c>load</c> names what it targeted (the report's <c>sources</c>) and the command line it ran.</summary>
[TestFixture]
[Parallelizable(ParallelScope.All)]
public sealed class LoadTargetNamesTests
{
    private static readonly WorkerAddress A = WorkerAddress.Parse("unix:///run/a.sock");
    private static readonly WorkerAddress B = WorkerAddress.Parse("http://10.0.0.8:7070");

    [Test]
    public void Sources_name_the_workers_the_dns_target_or_the_specification_file()
    {
        Assert.Multiple(() =>
        {
            Assert.That(LoadCommand.TargetNames([A], null, null), Is.EqualTo(new[] { "unix:///run/a.sock" }));
            Assert.That(LoadCommand.TargetNames([A, B], FleetTargets.From([A, B], null, required: true), null), Is.EqualTo(new[] { "unix:///run/a.sock", "http://10.0.0.8:7070" }));
            Assert.That(LoadCommand.TargetNames([], new FleetTargets { Dns = "dns:///workers.udf:7070" }, null), Is.EqualTo(new[] { "dns:///workers.udf:7070" }));
            Assert.That(LoadCommand.TargetNames([], new FleetTargets { Workers = [A, B] }, null), Is.EqualTo(new[] { "unix:///run/a.sock", "http://10.0.0.8:7070" }), "a fleet file: its addresses");
            Assert.That(LoadCommand.TargetNames([], null, "specs/worker.json"), Is.EqualTo(new[] { "specs/worker.json" }));
        });
    }

    [TestCase("plain-word_1.2/x:y=z@w%v+u,t", "plain-word_1.2/x:y=z@w%v+u,t")]
    [TestCase("", "''")]
    [TestCase("select x", "'select x'")]
    [TestCase("it's", "'it'\\''s'")]
    [TestCase("$HOME", "'$HOME'")]
    [TestCase("*", "'*'")]
    [TestCase("~user", "'~user'")]
    [TestCase("a\nb", "'a\nb'")]
    [TestCase("café", "'café'")]
    public void An_argument_is_quoted_for_a_posix_shell_only_when_it_needs_it(string argument, string quoted)
    {
        Assert.That(ShellText.Quote(argument), Is.EqualTo(quoted));
    }
}
