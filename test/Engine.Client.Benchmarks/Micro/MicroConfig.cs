using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;

namespace Engine.Client.Benchmarks;

/// <summary>BenchmarkDotNet configuration of the hot-path benchmarks: allocations always reported, results under artifacts/bench/micro.</summary>
public static class MicroConfig
{
    public static IConfig Create()
    {
        var root = Runs.RepositoryRoot() ?? Directory.GetCurrentDirectory();
        return DefaultConfig.Instance
            .AddDiagnoser(MemoryDiagnoser.Default)
            .WithArtifactsPath(Path.Combine(root, "artifacts", "bench", "micro"));
    }
}
