using System.Globalization;
using Engine.Client.Protocol;
using Google.Protobuf;

namespace Engine.Client.Workers;

/// <summary>
/// The protocol's rules for a worker specification. Every broken rule becomes one problem that
/// names the field by its JSON path (lowerCamel) and says what to do.
/// </summary>
internal static class SpecificationRules
{
    private const string ConnectionExample = "\"connection\": { \"unixDomainSocket\": {} } (or { \"tcp\": {} })";

    public static IReadOnlyList<string> Check(UDFWorkerSpecification spec)
    {
        var problems = new List<string>();
        CheckDirect(spec, problems);
        CheckCapabilities(spec.Capabilities, problems);
        CheckEnvironment(spec.Environment, problems);
        return problems.AsReadOnly();
    }

    private static void CheckDirect(UDFWorkerSpecification spec, List<string> problems)
    {
        if (spec.WorkerCase != UDFWorkerSpecification.WorkerOneofCase.Direct)
        {
            problems.Add("direct: missing. This engine launches workers itself: set direct.runner.command to the worker's executable and direct.properties to its connection, e.g. \"direct\": { \"runner\": { \"command\": [\"my-worker\"] }, \"properties\": { " + ConnectionExample + " } }.");
            return;
        }

        var direct = spec.Direct;
        if (direct.Runner is null)
        {
            problems.Add("direct.runner: missing. Set direct.runner.command to the worker's executable and its leading arguments, e.g. [\"python3\", \"worker.py\"].");
        }
        else
        {
            CheckCallable(direct.Runner, "direct.runner", problems);
            CheckReservedArguments(direct.Runner, "direct.runner", problems);
        }

        var properties = direct.Properties;
        if (properties is null)
        {
            problems.Add("direct.properties.connection: missing. Every worker needs a transport: set " + ConnectionExample + ".");
            return;
        }

        if (properties.HasInitializationTimeoutMs && properties.InitializationTimeoutMs <= 0)
        {
            problems.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"direct.properties.initializationTimeoutMs: {properties.InitializationTimeoutMs} is not positive. Give the milliseconds the worker may take to start (e.g. 10000), or leave it out for the default of 10 s."));
        }

        if (properties.HasGracefulTerminationTimeoutMs && properties.GracefulTerminationTimeoutMs < 0)
        {
            problems.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"direct.properties.gracefulTerminationTimeoutMs: {properties.GracefulTerminationTimeoutMs} is negative. Give the milliseconds between SIGTERM and SIGKILL (e.g. 5000), or leave it out for the default of 5 s."));
        }

        CheckConnection(properties.Connection, problems);
    }

    private static void CheckConnection(WorkerConnectionSpec? connection, List<string> problems)
    {
        if (connection is null)
        {
            problems.Add("direct.properties.connection: missing. Every worker needs a transport: set " + ConnectionExample + ".");
            return;
        }

        switch (connection.TransportCase)
        {
            case WorkerConnectionSpec.TransportOneofCase.UnixDomainSocket:
            case WorkerConnectionSpec.TransportOneofCase.Tcp:
                return;
            default:
                var unknown = UnknownFieldNumbers(connection);
                problems.Add(unknown.Count == 0
                    ? "direct.properties.connection: no transport set. Set exactly one: " + ConnectionExample + "."
                    : $"direct.properties.connection: sets a transport this engine does not support (field {string.Join(", ", unknown)} of WorkerConnectionSpec). Supported transports are unixDomainSocket and tcp: set " + ConnectionExample + ".");
                return;
        }
    }

    private static void CheckCapabilities(WorkerCapabilities? capabilities, List<string> problems)
    {
        const string FormatsPath = "capabilities.supportedDataFormats";
        const string PatternsPath = "capabilities.supportedCommunicationPatterns";
        if (capabilities is null)
        {
            problems.Add($"capabilities: missing. Declare what the worker supports: \"capabilities\": {{ \"supportedDataFormats\": [\"ARROW\"], \"supportedCommunicationPatterns\": [\"BIDIRECTIONAL_STREAMING\"] }}.");
            return;
        }

        for (var i = 0; i < capabilities.SupportedDataFormats.Count; i++)
        {
            if (capabilities.SupportedDataFormats[i] == UDFWorkerDataFormat.Unspecified)
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"{FormatsPath}[{i}]: UDF_WORKER_DATA_FORMAT_UNSPECIFIED is not a data format; remove it and list the formats the worker reads and writes, e.g. \"ARROW\"."));
            }
        }

        if (!capabilities.SupportedDataFormats.Contains(UDFWorkerDataFormat.Arrow))
        {
            problems.Add($"{FormatsPath}: does not include ARROW. This engine exchanges data as Arrow; add \"ARROW\" (the worker must support it).");
        }

        for (var i = 0; i < capabilities.SupportedCommunicationPatterns.Count; i++)
        {
            if (capabilities.SupportedCommunicationPatterns[i] == UDFProtoCommunicationPattern.Unspecified)
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"{PatternsPath}[{i}]: UDF_PROTO_COMMUNICATION_PATTERN_UNSPECIFIED is not a communication pattern; remove it and list \"BIDIRECTIONAL_STREAMING\"."));
            }
        }

        if (!capabilities.SupportedCommunicationPatterns.Contains(UDFProtoCommunicationPattern.BidirectionalStreaming))
        {
            problems.Add($"{PatternsPath}: does not include BIDIRECTIONAL_STREAMING. Every session is one bidirectional Execute stream; add \"BIDIRECTIONAL_STREAMING\" (the worker must support it).");
        }
    }

    private static void CheckEnvironment(WorkerEnvironment? environment, List<string> problems)
    {
        if (environment is null)
        {
            return;
        }

        if (environment.EnvironmentVerification is not null && environment.Installation is null)
        {
            problems.Add("environment.installation: missing, but environment.environmentVerification is given. Verification only decides whether installation must run: add the installation step, or remove the verification.");
        }

        if (environment.Installation is { } installation)
        {
            CheckCallable(installation, "environment.installation", problems);
        }

        if (environment.EnvironmentVerification is { } verification)
        {
            CheckCallable(verification, "environment.environmentVerification", problems);
        }

        if (environment.EnvironmentCleanup is { } cleanup)
        {
            CheckCallable(cleanup, "environment.environmentCleanup", problems);
        }
    }

    private static void CheckCallable(ProcessCallable callable, string path, List<string> problems)
    {
        if (callable.Command.Count == 0 || callable.Command.All(string.IsNullOrWhiteSpace))
        {
            problems.Add($"{path}.command: is empty. Give the executable and its leading arguments, e.g. [\"python3\", \"worker.py\"].");
        }
        else if (string.IsNullOrWhiteSpace(callable.Command[0]))
        {
            problems.Add($"{path}.command[0]: is blank. The first entry is the executable to run; remove the blank entry or name the executable.");
        }

        foreach (var (name, _) in callable.EnvironmentVariables)
        {
            if (name.Length == 0 || name.Contains('=', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal))
            {
                problems.Add($"{path}.environmentVariables[\"{name}\"]: is not a valid variable name; names must be non-empty and contain neither '=' nor NUL.");
            }
        }
    }

    private static void CheckReservedArguments(ProcessCallable callable, string path, List<string> problems)
    {
        for (var i = 1; i < callable.Command.Count; i++)
        {
            if (IsReserved(callable.Command[i]))
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"{path}.command[{i}]: '{callable.Command[i]}' is reserved: the engine appends --id and --connection itself; remove it."));
            }
        }

        for (var i = 0; i < callable.Arguments.Count; i++)
        {
            if (IsReserved(callable.Arguments[i]))
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"{path}.arguments[{i}]: '{callable.Arguments[i]}' is reserved: the engine appends --id and --connection itself; remove it."));
            }
        }
    }

    private static bool IsReserved(string argument)
    {
        foreach (var flag in (ReadOnlySpan<string>)["--id", "--connection"])
        {
            if (string.Equals(argument, flag, StringComparison.Ordinal) || argument.StartsWith(flag + "=", StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static List<int> UnknownFieldNumbers(IMessage message)
    {
        var numbers = new List<int>();
        try
        {
            var input = new CodedInputStream(message.ToByteArray());
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                numbers.Add(WireFormat.GetTagFieldNumber(tag));
                input.SkipLastField();
            }
        }
        catch (InvalidProtocolBufferException)
        {
            // Already parsed once; a failure here only loses the field numbers in the message.
        }

        return numbers;
    }
}
