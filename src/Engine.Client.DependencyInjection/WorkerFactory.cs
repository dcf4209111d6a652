using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Engine.Client.DependencyInjection;

/// <summary>Builds the registered pools, fleets and clients from their named options.</summary>
internal static class WorkerFactory
{
    /// <summary>The pool name used in telemetry for the default registration.</summary>
    public const string DefaultPoolName = "default";

    /// <summary>The default of <see cref="WorkerFleetOptions.Name"/>: a fleet left at it takes its registration's name.</summary>
    public static readonly string DefaultFleetName = new WorkerFleetOptions().Name;

    public static WorkerPool CreatePool(IServiceProvider services, string name)
    {
        var options = services.GetRequiredService<IOptionsMonitor<WorkerPoolServiceOptions>>().Get(name);
        var specification = options.Specification ?? WorkerSpecification.Load(options.SpecificationPath!);
        return WorkerPool.Create(specification, options.Pool);
    }

    public static WorkerFleet CreateFleet(IServiceProvider services, string name)
    {
        var options = services.GetRequiredService<IOptionsMonitor<WorkerFleetServiceOptions>>().Get(name);
        return options.Dns is { } dns
            ? WorkerFleet.CreateFromDns(dns, options.Fleet)
            : WorkerFleet.Create(options.Addresses, options.Fleet);
    }

    public static WorkerClient CreateClient(IServiceProvider services, string name)
    {
        var options = services.GetRequiredService<IOptionsMonitor<WorkerClientServiceOptions>>().Get(name);
        return WorkerClient.Create(options.Address!, options.Client);
    }

    public static void FillFromContainer(WorkerPoolServiceOptions options, IServiceProvider services, string name)
    {
        if (options.Pool is not { } pool)
        {
            return;
        }

        if (pool.LoggerFactory is NullLoggerFactory && services.GetService<ILoggerFactory>() is { } loggers)
        {
            pool.LoggerFactory = loggers;
        }

        if (ReferenceEquals(pool.TimeProvider, TimeProvider.System) && services.GetService<TimeProvider>() is { } time)
        {
            pool.TimeProvider = time;
        }

        pool.MeterFactory ??= services.GetService<IMeterFactory>();
        pool.Name ??= name.Length == 0 ? DefaultPoolName : name;
    }

    public static void FillFromContainer(WorkerFleetServiceOptions options, IServiceProvider services, string name)
    {
        if (options.Fleet is not { } fleet)
        {
            return;
        }

        if (fleet.LoggerFactory is NullLoggerFactory && services.GetService<ILoggerFactory>() is { } loggers)
        {
            fleet.LoggerFactory = loggers;
        }

        if (ReferenceEquals(fleet.TimeProvider, TimeProvider.System) && services.GetService<TimeProvider>() is { } time)
        {
            fleet.TimeProvider = time;
        }

        fleet.MeterFactory ??= services.GetService<IMeterFactory>();
        if (name.Length > 0 && fleet.Name == DefaultFleetName)
        {
            fleet.Name = name;
        }
    }

    public static void FillFromContainer(WorkerClientServiceOptions options, IServiceProvider services)
    {
        if (options.Client is not { } client)
        {
            return;
        }

        if (client.LoggerFactory is NullLoggerFactory && services.GetService<ILoggerFactory>() is { } loggers)
        {
            client.LoggerFactory = loggers;
        }

        if (ReferenceEquals(client.TimeProvider, TimeProvider.System) && services.GetService<TimeProvider>() is { } time)
        {
            client.TimeProvider = time;
        }

        client.MeterFactory ??= services.GetService<IMeterFactory>();
    }
}
