using System.Runtime.InteropServices;
using Engine.Client;
using Engine.Client.Protocol;

namespace Engine.Samples;

/// <summary>
/// A worker specification for the reference worker, built in code: <c>dotnet Engine.ReferenceWorker.dll</c>
/// (the muxer, so no file needs an executable bit), over a Unix domain socket, reusable and serving
/// concurrent sessions. Shared as source by <c>engine-client demo</c> and the examples.
/// </summary>
internal static class ReferenceWorkerSpecification
{
    /// <summary>The worker's assembly file name.</summary>
    public const string AssemblyFile = "Engine.ReferenceWorker.dll";

    /// <summary>Whether <paramref name="assembly"/> and its <c>.runtimeconfig.json</c> are both there.</summary>
    public static bool IsPresent(string assembly) =>
        File.Exists(assembly) && File.Exists(Path.ChangeExtension(assembly, ".runtimeconfig.json"));

    /// <summary>The specification for the worker at <paramref name="assembly"/>; the caller checked <see cref="IsPresent"/>.</summary>
    /// <param name="assembly">The path of <c>Engine.ReferenceWorker.dll</c>.</param>
    /// <param name="initializationTimeout">How long the worker may take to answer its first heartbeat.</param>
    public static WorkerSpecification Build(string assembly, TimeSpan initializationTimeout)
    {
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
                    InitializationTimeoutMs = (int)initializationTimeout.TotalMilliseconds,
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
        var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var muxer = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
        return File.Exists(muxer) ? muxer : "dotnet";
    }
}
