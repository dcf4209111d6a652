using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli.Operations;

/// <summary>Loading worker specifications named on the command line.</summary>
internal static class SpecificationFiles
{
    /// <summary>Loads and validates; any problem becomes one <see cref="UsageException"/> line.</summary>
    public static WorkerSpecification LoadValid(string path, string option)
    {
        var specification = Load(path, option);
        var problems = specification.Problems;
        if (problems.Count == 1)
        {
            throw new UsageException($"{option} '{path}' is invalid: {problems[0]}");
        }

        if (problems.Count > 1)
        {
            throw new UsageException($"{option} '{path}' has {problems.Count} problems (run 'engine-client spec validate {path}' to list them all); the first: {problems[0]}");
        }

        return specification;
    }

    /// <summary>Loads without validating; a file that cannot be read or parsed becomes one <see cref="UsageException"/> line.</summary>
    public static WorkerSpecification Load(string path, string option)
    {
        // A specification is read whole: a regular file over the limit is refused by its length.
        InputFiles.CheckSize(path, option);
        try
        {
            return WorkerSpecification.Load(path);
        }
        catch (WorkerSpecificationException ex)
        {
            if (ex.Problems.Count > 1)
            {
                throw new UsageException($"{option} '{path}' has {ex.Problems.Count} problems (run 'engine-client spec validate {path}' to list them all); the first: {ex.Problems[0]}", ex);
            }

            var problem = ex.Problems.Count > 0 ? ex.Problems[0] : ex.Message;
            throw new UsageException($"{option} '{path}': {problem}", ex);
        }
        catch (ArgumentException ex)
        {
            throw new UsageException($"{option} '{path}': {ex.Message}", ex);
        }
    }
}
