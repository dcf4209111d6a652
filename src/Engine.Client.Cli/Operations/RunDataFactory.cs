using Engine.Client.Cli.Hosting;
using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli.Operations;

/// <summary>Chooses the data side of a run from <c>--input</c> and <c>--output</c>.</summary>
internal static class RunDataFactory
{
    public static IRunData Open(string? inputPath, string? outputPath, RunRequest request, CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(console);
        if (inputPath is not null)
        {
            throw new UsageException("--input is not available yet: this build has no Arrow session support. Run without --input (no input batches) until it lands.");
        }

        if (outputPath is not null)
        {
            throw new UsageException("--output is not available yet: this build has no Arrow session support. Run without --output (the output is summarized) until it lands.");
        }

        return new OpaqueRunData(request.PreviewLimit);
    }
}
