using System.Runtime.InteropServices;
using Engine.Client.Cli.Parsing;
using Engine.Client.Protocol;

namespace Engine.Client.Cli.Operations;

/// <summary>
/// Finds the reference worker shipped next to the tool's own assembly and builds a worker
/// specification for it in code: <c>dotnet Engine.ReferenceWorker.dll</c> (the muxer, so no file
/// needs an executable bit), over a Unix domain socket, reusable.
/// </summary>
internal static class ReferenceWorkerLocator
{
    public const string AssemblyFile = "Engine.ReferenceWorker.dll";

    /// <summary>The worker's assembly next to this tool.</summary>
    public static string AssemblyPath => Path.Combine(AppContext.BaseDirectory, AssemblyFile);

    /// <summary>The specification, or a <see cref="UsageException"/> when the worker is not where it should be.</summary>
    public static WorkerSpecification Specification()
    {
        var assembly = AssemblyPath;
        var runtimeConfig = Path.ChangeExtension(assembly, ".runtimeconfig.json");
        if (!File.Exists(assembly) || !File.Exists(runtimeConfig))
        {
            throw new UsageException($"the reference worker is not next to engine-client (expected {assembly} and its .runtimeconfig.json); reinstall the tool or rebuild the solution.");
        }

        var runner = new ProcessCallable();
        runner.Command.Add(DotnetHost());
        runner.Command.Add(assembly);
        runner.EnvironmentVariables["DOTNET_gcServer"] = "0";
        var proto = new UDFWorkerSpecification
        {
            Capabilities = new WorkerCapabilities { SupportsReuse = true, SupportsConcurrentUdfs = true },
            Direct = new DirectWorker
            {
                Runner = runner,
                Properties = new UDFWorkerProperties
                {
                    InitializationTimeoutMs = 20_000,
                    GracefulTerminationTimeoutMs = 5_000,
                    Connection = new WorkerConnectionSpec { UnixDomainSocket = new UnixDomainSocket() },
                },
            },
        };
        proto.Capabilities.SupportedDataFormats.Add(UDFWorkerDataFormat.Arrow);
        proto.Capabilities.SupportedCommunicationPatterns.Add(UDFProtoCommunicationPattern.BidirectionalStreaming);
        return WorkerSpecification.FromProto(proto).Validate();
    }

    /// <summary>
    /// The <c>dotnet</c> muxer running this process: <c>DOTNET_HOST_PATH</c> when set, this process
    /// when it is the muxer, the muxer of the runtime in use, else <c>dotnet</c> on the PATH.
    /// </summary>
    public static string DotnetHost()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromEnvironment) && File.Exists(fromEnvironment))
        {
            return fromEnvironment;
        }

        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return self;
        }

        // <root>/shared/Microsoft.NETCore.App/<version>/ -> <root>/dotnet
        var runtimeDirectory = RuntimeEnvironment.GetRuntimeDirectory();
        var root = Path.GetFullPath(Path.Combine(runtimeDirectory, "..", "..", ".."));
        var muxer = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
        return File.Exists(muxer) ? muxer : "dotnet";
    }
}
