extern alias cli;

using System.Text;
using cli::Engine.Client.Cli.Operations;
using cli::Engine.Client.Cli.Output;
using Engine.Client.Protocol;
using Engine.Client.Workers;

namespace Engine.Client.Tests.Cli;

/// <summary>
/// Worker-provided text on its way to a terminal: escaped and bounded by the CLI's renderers and
/// by the library's launch-output tail; an error with nothing in it said to be empty; rejected
/// output classified as such whatever terminator followed.
/// </summary>
[TestFixture]
public sealed class WorkerTextTests
{
    private const string Hostile = "a\u001b[2Jb\u0007c\u009b31md\u0000e\u007ff\u202eg\ud800h\tx";

    [Test]
    public void Control_characters_are_escaped_and_a_tab_and_text_kept()
    {
        Assert.That(TerminalText.Escape(Hostile), Is.EqualTo(@"a\x1b[2Jb\x07c\x9b31md\x00e\x7ff\u202eg\ud800h" + "\tx"));
        Assert.That(TerminalText.Escape("délta 😀 plain"), Is.EqualTo("délta 😀 plain"));
        Assert.That(TerminalText.Escape(TerminalText.Escape(Hostile)), Is.EqualTo(TerminalText.Escape(Hostile)), "escaping twice changes nothing");
    }

    [Test]
    public void A_long_line_keeps_its_start_and_end_saying_how_much_was_left_out()
    {
        var escaped = TerminalText.Escape(new string('x', 2000) + new string('y', 3000), 100);

        Assert.That(escaped, Is.EqualTo(new string('x', 75) + " [... 4900 characters left out ...] " + new string('y', 25)));
    }

    [Test]
    public void The_advice_at_the_end_of_a_long_one_line_reason_survives()
    {
        var reason = "The worker rejected Init: " + new string('w', 3000) + " Check the payload format.";

        var line = TerminalText.OneLine(reason);

        Assert.That(line, Does.StartWith("The worker rejected Init: www"));
        Assert.That(line, Does.EndWith(" Check the payload format."));
        Assert.That(line, Does.Contain(" characters left out ...] "));
        Assert.That(line.Length, Is.LessThanOrEqualTo(TerminalText.MaxOneLineChars + 40));
    }

    [Test]
    public void A_cut_never_splits_a_surrogate_pair_or_an_escape()
    {
        var emoji = TerminalText.Escape(string.Concat(Enumerable.Repeat("\ud83d\ude00", 100)), 21);
        var escapes = TerminalText.Escape(new string('\u001b', 100), 22);

        Assert.That(emoji, Is.EqualTo(string.Concat(Enumerable.Repeat("\ud83d\ude00", 8)) + " [... 180 characters left out ...] " + "\ud83d\ude00\ud83d\ude00"));
        Assert.That(escapes, Is.EqualTo(string.Concat(Enumerable.Repeat(@"\x1b", 4)) + " [... 95 characters left out ...] " + @"\x1b"));
    }

    [Test]
    public void Many_lines_keep_their_head_and_tail_with_a_note()
    {
        var text = string.Join('\n', Enumerable.Range(0, 300).Select(i => $"line {i}"));

        var lines = TerminalText.Lines(text, 40);

        Assert.That(lines, Has.Count.EqualTo(40));
        Assert.That(lines[0], Is.EqualTo("line 0"));
        Assert.That(lines[10], Is.EqualTo("[... 261 lines left out]"));
        Assert.That(lines[^1], Is.EqualTo("line 299"));
    }

    [Test]
    public void The_plain_renderer_escapes_every_text_and_indents_a_multi_line_value()
    {
        var output = new StringWriter();
        var renderer = new PlainRenderer(output);

        renderer.Line(Hostile);
        renderer.Heading(Hostile);
        renderer.Marked(Mark.Bad, Hostile, Hostile);
        renderer.KeyValues([("k\u001b", "first\u001b\nsecond\r\nthird")]);
        renderer.Table([Hostile], [[Hostile]]);

        var text = output.ToString();
        CliErrorReportTests.AssertTerminalSafe(text, "rendered text");
        Assert.That(text, Does.Contain("  k\\x1b  first\\x1b\n         second\n         third\n"));
    }

    [Test]
    public void The_JSON_report_escapes_C0_and_C1_controls()
    {
        var report = new RunReport
        {
            Outcome = RunOutcome.Cancelled,
            ExitCode = 1,
            Format = "fault",
            Error = new RunError { Kind = RunErrorKind.User, Message = Hostile, ErrorClass = "\u001b", Traceback = "\u009b" },
        };

        var json = RunReportJson.Write(report);

        CliErrorReportTests.AssertTerminalSafe(json, "JSON");
        using var document = System.Text.Json.JsonDocument.Parse(json);
        Assert.That(document.RootElement.GetProperty("error").GetProperty("message").GetString(), Is.EqualTo(Hostile.Replace("\ud800", "\ufffd", StringComparison.Ordinal)));
    }

    [Test]
    public void An_empty_message_and_class_are_said_to_be_missing()
    {
        var blank = new RunError { Kind = RunErrorKind.User, Message = string.Empty, ErrorClass = string.Empty };
        var noMessage = new RunError { Kind = RunErrorKind.Worker, Message = " " };

        Assert.That(RunReportText.Message(blank), Is.EqualTo("(the worker sent no message and no error class)"));
        Assert.That(RunReportText.Message(noMessage), Is.EqualTo("(the worker sent no message)"));
        Assert.That(RunReportText.Message(new RunError { Kind = RunErrorKind.User, Message = "bad" }), Is.EqualTo("bad"));
    }

    [Test]
    public void A_session_error_with_an_empty_message_and_class_says_so()
    {
        var blank = SessionError.From(new ExecutionError { User = new UserError { Message = string.Empty, ErrorClass = string.Empty } }, SessionErrorOrigin.Data);
        var worker = SessionError.From(new ExecutionError { Worker = new WorkerError { Message = string.Empty } }, SessionErrorOrigin.Init);

        Assert.That(blank.ToString(), Is.EqualTo("user error: the worker sent no message (data phase)"));
        Assert.That(worker.ToString(), Is.EqualTo("worker error: the worker sent no message (init)"));
        Assert.That(blank.Message, Is.Empty, "the error as received is kept");
    }

    [TestCase(SessionOutcomeKind.Finished)]
    [TestCase(SessionOutcomeKind.Cancelled)]
    [TestCase(SessionOutcomeKind.TransportFailed)]
    public void Rejected_output_exits_1_as_invalid_output_whatever_terminator_followed(SessionOutcomeKind kind)
    {
        var rejected = new RunError { Kind = RunErrorKind.Protocol, Reason = "invalid_output", Origin = "data", Message = "output batch 0 is empty" };
        var diagnostics = new SessionDiagnostics { Worker = "unix:///tmp/w.sock", SessionId = 1, Phase = SessionPhase.Processing };
        var outcome = new SessionOutcome(kind, null, null, null, null, null, null, null, diagnostics);

        var (runOutcome, exitCode, error) = RunOperation.Classify(outcome, rejected, interrupted: false, timedOut: null);

        Assert.That((runOutcome, exitCode, error), Is.EqualTo((RunOutcome.Cancelled, 1, rejected)));
    }

    [Test]
    public void The_launch_output_tail_keeps_lines_escaped()
    {
        var tail = new OutputTail(maxLines: 3, maxChars: 10_000);

        tail.Append("ok line");
        tail.Append("\u001b]0;owned\u0007\u001b[2J");
        tail.Append("bad \ufffd bytes \u0085");
        tail.Append("last");

        var text = tail.Format();
        CliErrorReportTests.AssertTerminalSafe(text, "tail");
        Assert.That(text, Is.EqualTo("[... 1 earlier lines not kept]\n\\x1b]0;owned\\x07\\x1b[2J\nbad \ufffd bytes \\x85\nlast"));
    }

    /// <summary>
    /// A surrogate pair (an emoji) is text, kept whole, before or after an escaped character. (A
    /// pair before anything escaped lost its low half to an escape.)
    /// </summary>
    [Test]
    public async Task The_launch_output_pump_keeps_emoji_whole()
    {
        var tail = new OutputTail(maxLines: 10, maxChars: 10_000);
        var text = "🚀 ok\n\u001b 🚀\n";
        var seen = new List<string>();

        await tail.PumpAsync(new StreamReader(new MemoryStream(Encoding.UTF8.GetBytes(text)), Encoding.UTF8), seen.Add);

        Assert.That(seen, Is.EqualTo(new[] { "🚀 ok", "\\x1b 🚀" }));
    }

    [Test]
    public async Task The_launch_output_pump_escapes_what_a_process_writes()
    {
        var tail = new OutputTail(maxLines: 10, maxChars: 10_000);
        var bytes = new byte[] { 0x1b, (byte)'[', (byte)'H', 0xff, 0xfe, (byte)'\r', (byte)'\n', (byte)'x', 0x08 };
        var seen = new List<string>();

        await tail.PumpAsync(new StreamReader(new MemoryStream(bytes), Encoding.UTF8), seen.Add);

        Assert.That(tail.Lines(), Is.EqualTo(new[] { "\\x1b[H\ufffd\ufffd", "x\\x08" }));
        Assert.That(seen, Is.EqualTo(tail.Lines()), "the lines logged are the escaped ones");
    }
}
