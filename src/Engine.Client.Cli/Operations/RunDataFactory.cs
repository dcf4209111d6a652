using Engine.Client.Cli.Arrow;
using Engine.Client.Cli.Hosting;

namespace Engine.Client.Cli.Operations;

/// <summary>Opens the data side of a run from <c>--input</c> and <c>--output</c>, before anything connects.</summary>
internal static class RunDataFactory
{
    /// <exception cref="Parsing.UsageException">The input cannot be read or is not Arrow, or the output cannot be created.</exception>
    public static async Task<IRunData> OpenAsync(string? inputPath, string? outputPath, RunRequest request, CliConsole console, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(console);
        var input = inputPath is null ? null : await ArrowInput.OpenAsync(inputPath, console.OpenStandardInput, cancellationToken);
        try
        {
            var output = outputPath is null ? null : ArrowOutput.Create(outputPath, console.OpenStandardOutput);
            return new ArrowRunData(input, output, request.PreviewLimit);
        }
        catch
        {
            if (input is not null)
            {
                await input.DisposeAsync();
            }

            throw;
        }
    }
}
