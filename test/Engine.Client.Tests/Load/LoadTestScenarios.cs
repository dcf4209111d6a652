using Engine.Client.Load;

namespace Engine.Client.Tests.Load;

/// <summary>Scenarios the load tests share.</summary>
internal static class LoadTestScenarios
{
    /// <summary>The reference worker's echo UDF, one batch of 10 rows of one int64 column per session.</summary>
    public static LoadScenario SmallEcho() => new("echo", "echo", ReadOnlyMemory<byte>.Empty)
    {
        Input = LoadInput.Generate(LoadInput.ParseColumns("x:int64"), rows: 10, batchRows: null, batches: 1),
    };
}
