using Engine.Client.Fleets;
using Microsoft.Extensions.Options;

namespace Engine.Client.DependencyInjection;

/// <summary>Checks a pool registration: its settings and its specification (read and validated now, so a bad file fails the host's start).</summary>
internal sealed class WorkerPoolServiceOptionsValidator : IValidateOptions<WorkerPoolServiceOptions>
{
    public ValidateOptionsResult Validate(string? name, WorkerPoolServiceOptions options)
    {
        var label = string.IsNullOrEmpty(name) ? "the default worker pool" : $"worker pool '{name}'";
        var failures = new List<string>();
        if (options.Pool is null)
        {
            failures.Add($"{label}: Pool is null.");
        }
        else
        {
            try
            {
                options.Pool.Validate();
            }
            catch (ArgumentException ex)
            {
                failures.Add($"{label}: Pool: {ex.Message}");
            }
        }

        if (options.WorkersAtStart < 0)
        {
            failures.Add($"{label}: WorkersAtStart is {options.WorkersAtStart}; it must not be negative.");
        }

        if (options.Specification is { } specification)
        {
            try
            {
                specification.Validate();
            }
            catch (WorkerSpecificationException ex)
            {
                failures.Add($"{label}: Specification: {ex.Message}");
            }
        }
        else if (string.IsNullOrWhiteSpace(options.SpecificationPath))
        {
            failures.Add($"{label}: neither Specification nor SpecificationPath is set.");
        }
        else
        {
            try
            {
                WorkerSpecification.Load(options.SpecificationPath).Validate();
            }
            catch (Exception ex) when (ex is WorkerSpecificationException or IOException or UnauthorizedAccessException)
            {
                failures.Add($"{label}: SpecificationPath '{options.SpecificationPath}': {ex.Message}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>Checks a client registration: its address and its settings.</summary>
internal sealed class WorkerClientServiceOptionsValidator : IValidateOptions<WorkerClientServiceOptions>
{
    public ValidateOptionsResult Validate(string? name, WorkerClientServiceOptions options)
    {
        var label = string.IsNullOrEmpty(name) ? "the default worker client" : $"worker client '{name}'";
        var failures = new List<string>();
        if (!WorkerAddress.TryParse(options.Address, out _))
        {
            failures.Add(options.Address is null
                ? $"{label}: Address is not set."
                : $"{label}: Address '{options.Address}' is not unix:///absolute/path.sock or http://host:port.");
        }

        if (options.Client is null)
        {
            failures.Add($"{label}: Client is null.");
        }
        else
        {
            try
            {
                options.Client.Validate();
            }
            catch (ArgumentException ex)
            {
                failures.Add($"{label}: Client: {ex.Message}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>
/// Checks a fleet registration: one source of workers (each address, or the DNS target, parsed as
/// the fleet will) and its settings. Each failure names its configuration key.
/// </summary>
internal sealed class WorkerFleetServiceOptionsValidator : IValidateOptions<WorkerFleetServiceOptions>
{
    public ValidateOptionsResult Validate(string? name, WorkerFleetServiceOptions options)
    {
        var label = string.IsNullOrEmpty(name) ? "the default worker fleet" : $"worker fleet '{name}'";
        var failures = new List<string>();
        var hasAddresses = options.Addresses.Count > 0;
        var hasDns = !string.IsNullOrWhiteSpace(options.Dns);
        if (hasAddresses && hasDns)
        {
            failures.Add($"{label}: both Addresses ({options.Addresses.Count}) and Dns ('{options.Dns}') are set; give the workers one way.");
        }
        else if (!hasAddresses && !hasDns)
        {
            failures.Add(options.Dns is null
                ? $"{label}: neither Addresses nor Dns is set; give a list of worker addresses or a dns:/// target."
                : $"{label}: Dns is empty and no Addresses are set; give a list of worker addresses or a dns:/// target.");
        }

        for (var i = 0; i < options.Addresses.Count; i++)
        {
            if (!WorkerAddress.TryParse(options.Addresses[i], out _, out var error))
            {
                failures.Add($"{label}: Addresses:{i}: {error}");
            }
        }

        if (hasDns)
        {
            try
            {
                DnsTarget.Parse(options.Dns!);
            }
            catch (FormatException ex)
            {
                failures.Add($"{label}: Dns: {ex.Message}");
            }
        }

        if (options.Fleet is null)
        {
            failures.Add($"{label}: Fleet is null.");
        }
        else
        {
            try
            {
                options.Fleet.Validate();
            }
            catch (ArgumentException ex)
            {
                failures.Add($"{label}: Fleet: {ex.Message}");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
