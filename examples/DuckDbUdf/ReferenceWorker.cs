using System.Runtime.InteropServices;
using Engine.Client;
using Engine.Client.Protocol;

namespace DuckDbUdf;

/// <summary>
/// A specification for the reference worker, built in code: <c>dotnet Engine.ReferenceWorker.dll</c>
/// over a Unix domain socket, reusable and serving concurrent sessions.
/// </summary>
internal static class ReferenceWorker
{
    public static WorkerSpecification Specification(string assembly)
    {
        if (!File.Exists(assembly) || !File.Exists(Path.ChangeExtension(assembly, ".runtimeconfig.json")))
        {
            throw new FileNotFoundException($"the reference worker is not at {assembly} (with its .runtimeconfig.json); build the example, or pass --worker.", assembly);
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
                    InitializationTimeoutMs = 30_000,
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
    /// The <c>dotnet</c> muxer: <c>DOTNET_HOST_PATH</c>, this process when it is the muxer, the muxer
    /// of the runtime in use, else <c>dotnet</c> on the PATH.
    /// </summary>
    private static string DotnetHost()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(fromEnvironment) && File.Exists(fromEnvironment))
        {
            return fromEnvironment;
        }

        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            return self;
        }

        // <root>/shared/Microsoft.NETCore.App/<version>/ -> <root>/dotnet
        var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var muxer = Path.Combine(root, "dotnet");
        return File.Exists(muxer) ? muxer : "dotnet";
    }
}
