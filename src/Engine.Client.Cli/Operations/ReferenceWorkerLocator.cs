using Engine.Client.Cli.Parsing;
using Engine.Samples;

namespace Engine.Client.Cli.Operations;

/// <summary>
/// Finds the reference worker shipped next to the tool's own assembly and builds its worker
/// specification (<see cref="ReferenceWorkerSpecification"/>).
/// </summary>
internal static class ReferenceWorkerLocator
{
    /// <summary>The worker's assembly next to this tool.</summary>
    public static string AssemblyPath => Path.Combine(AppContext.BaseDirectory, ReferenceWorkerSpecification.AssemblyFile);

    /// <summary>The specification, or a <see cref="UsageException"/> when the worker is not where it should be.</summary>
    public static WorkerSpecification Specification()
    {
        var assembly = AssemblyPath;
        if (!ReferenceWorkerSpecification.IsPresent(assembly))
        {
            throw new UsageException($"the reference worker is not next to engine-client (expected {assembly} and its .runtimeconfig.json); reinstall the tool or rebuild the solution.");
        }

        return ReferenceWorkerSpecification.Build(assembly, TimeSpan.FromSeconds(20));
    }
}
