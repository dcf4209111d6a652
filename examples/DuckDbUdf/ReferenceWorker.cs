using Engine.Client;
using Engine.Samples;

namespace DuckDbUdf;

/// <summary>The reference worker's specification (src/Shared/ReferenceWorkerSpecification.cs), after checking it is there.</summary>
internal static class ReferenceWorker
{
    public static WorkerSpecification Specification(string assembly) =>
        ReferenceWorkerSpecification.IsPresent(assembly)
            ? ReferenceWorkerSpecification.Build(assembly, TimeSpan.FromSeconds(30))
            : throw new FileNotFoundException($"the reference worker is not at {assembly} (with its .runtimeconfig.json); build the example, or pass --worker.", assembly);
}
