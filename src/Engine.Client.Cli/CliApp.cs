using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using Engine.Client.Cli.Commands;
using Engine.Client.Cli.Hosting;
using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli;

/// <summary>
/// The command tree and its invocation: parse errors become one line on stderr (exit 2), every
/// command's <see cref="UsageException"/> too, and Ctrl+C / SIGTERM reach commands through
/// <see cref="InterruptSignals"/> instead of System.CommandLine's own handler.
/// </summary>
internal static class CliApp
{
    public const string Name = "engine-client";

    public static RootCommand BuildRoot(CliContext context)
    {
        var root = new RootCommand(
            "Runs UDFs on workers of Apache Spark's language-agnostic UDF worker protocol, asks them for heartbeats, shuts them down, validates worker specifications, launches workers, checks their conformance and load-tests them. Exit codes: 0 success, 1 the worker reported an error, 2 bad usage, input or output (a file or stdout that cannot be written), 3 transport failure or timeout, 4 a load test threshold failed, 130 interrupted.")
        {
            RunCommand.Create(context),
            HeartbeatCommand.Create(context),
            ShutdownCommand.Create(context),
            FleetCommand.Create(context),
            SpecCommand.Create(context),
            WorkersCommand.Create(context),
            ConformanceCommand.Create(context),
            DemoCommand.Create(context),
            LoadCommand.Create(context),
        };
        TypedValues.Install(root);
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>; returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args, CliContext context)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(context);
        context.Arguments = args;
        var root = BuildRoot(context);
        var parse = root.Parse(args);
        var error = OptionAsArgument(parse) ?? (parse.Action is ParseErrorAction ? FirstError(parse) : null);
        if (error is not null)
        {
            await context.Console.Error.WriteLineAsync(UsageLine(CommandPath(parse.CommandResult), error));
            return ExitCodes.Usage;
        }

        var invocation = new InvocationConfiguration
        {
            Output = context.Console.Out,
            Error = context.Console.Error,
            ProcessTerminationTimeout = null,
            EnableDefaultExceptionHandler = false,
        };
        var exitCode = await parse.InvokeAsync(invocation);
        return await CheckOutputAsync(context, CommandPath(parse.CommandResult), exitCode);
    }

    /// <summary>
    /// A command whose results could not all be written to stdout (a closed pipe, a full disk, a
    /// closed descriptor) did not deliver them: a success becomes exit 2 (an output failure), with
    /// a line on stderr; another exit code is kept (it says what happened first).
    /// </summary>
    internal static async Task<int> CheckOutputAsync(CliContext context, string command, int exitCode)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Console.OutputFailure is not { } failure)
        {
            return exitCode;
        }

        var consequence = exitCode == ExitCodes.Success ? "exit 2" : $"exit {exitCode} says what happened first";
        await context.Console.Error.WriteLineAsync($"{command}: stdout could not be written: {OneLine(failure.Message)}; its output is incomplete ({consequence}).");
        return exitCode == ExitCodes.Success ? ExitCodes.Usage : exitCode;
    }

    /// <summary>The error to show: an unknown token first (the likeliest typo), else the first error.</summary>
    private static string FirstError(ParseResult parse)
    {
        if (parse.UnmatchedTokens.Count > 0)
        {
            var token = parse.UnmatchedTokens[0];
            return token.StartsWith('-')
                ? $"unknown option '{token}'."
                : $"unknown command or argument '{token}'.";
        }

        // A value the user gave that does not parse says more than an option left out.
        var given = parse.Errors.FirstOrDefault(e => e.SymbolResult is ArgumentResult or OptionResult && e.SymbolResult.Tokens.Count > 0);

        // An option of one value given more than once: say so in the user's terms, not the parser's.
        if (given?.SymbolResult is OptionResult { Option.Arity.MaximumNumberOfValues: 1 } once && once.Tokens.Count > 1)
        {
            return $"{once.Option.Name} is given {once.Tokens.Count} times ({string.Join(", ", once.Tokens.Select(t => $"'{t.Value}'"))}); give it once.";
        }

        return (given ?? (parse.Errors.Count > 0 ? parse.Errors[0] : null))?.Message ?? "the command line is not valid.";
    }

    /// <summary>
    /// A command's argument (a file of <c>spec validate</c>, <c>load merge</c>) that looks like an
    /// option is a misspelt or unknown option, not a file named '--bogus'; after <c>--</c>, every
    /// token is an argument.
    /// </summary>
    private static string? OptionAsArgument(ParseResult parse)
    {
        var doubleDash = -1;
        for (var i = 0; i < parse.Tokens.Count; i++)
        {
            if (parse.Tokens[i].Type == TokenType.DoubleDash)
            {
                doubleDash = i;
                break;
            }
        }

        foreach (var argument in parse.CommandResult.Children.OfType<ArgumentResult>())
        {
            foreach (var token in argument.Tokens)
            {
                var position = IndexOf(parse.Tokens, token);
                if (token.Value.Length > 1 && token.Value.StartsWith('-') && (doubleDash < 0 || (position >= 0 && position < doubleDash)))
                {
                    return $"unknown option '{token.Value}' (a file whose name starts with '-': write ./{token.Value} or put it after --).";
                }
            }
        }

        return null;
    }

    private static int IndexOf(IReadOnlyList<Token> tokens, Token token)
    {
        for (var i = 0; i < tokens.Count; i++)
        {
            if (ReferenceEquals(tokens[i], token))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// Runs a command's body: a <see cref="UsageException"/> becomes one line on stderr and exit 2;
    /// anything unexpected one line naming its type and exit 70.
    /// </summary>
    public static async Task<int> GuardAsync(CliContext context, ParseResult parse, Func<Task<int>> body)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(body);
        var command = CommandPath(parse.CommandResult);
        try
        {
            return await body();
        }
        catch (UsageException ex)
        {
            await context.Console.Error.WriteLineAsync(UsageLine(command, ex.Message));
            return ExitCodes.Usage;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            await context.Console.Error.WriteLineAsync($"{command}: unexpected error ({ex.GetType().Name}): {OneLine(ex.Message)}");
            return ExitCodes.Internal;
        }
    }

    /// <summary>One line: the command, what was wrong, and where to look.</summary>
    public static string UsageLine(string command, string message) =>
        $"{command}: {OneLine(message).TrimEnd()} (see '{command} --help')";

    /// <summary>
    /// <paramref name="text"/> on one line, safe for a terminal and bounded (see
    /// <see cref="Output.TerminalText.OneLine"/>): messages may carry what a worker wrote.
    /// </summary>
    public static string OneLine(string text) => Output.TerminalText.OneLine(text);

    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is not null; r = r.Parent)
        {
            if (r is CommandResult command)
            {
                names.Add(command.Command is RootCommand ? Name : command.Command.Name);
            }
        }

        names.Reverse();
        return string.Join(' ', names);
    }
}

/// <summary>What every command gets: the console and the interrupt signals.</summary>
internal sealed class CliContext(CliConsole console, InterruptSignals signals)
{
    public CliConsole Console { get; } = console;

    public InterruptSignals Signals { get; } = signals;

    /// <summary>The command line's arguments as given (after the program's name), for reports that record it.</summary>
    public IReadOnlyList<string> Arguments { get; set; } = [];
}
