using Engine.Client;
using Engine.Client.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers <see cref="WorkerPool"/>, <see cref="WorkerFleet"/> and <see cref="WorkerClient"/> singletons in a container.
/// </summary>
/// <remarks>
/// <para>
/// Each registration has a name. The unnamed overloads register the default one, resolved as a plain
/// <see cref="WorkerPool"/> (or <see cref="WorkerFleet"/>, <see cref="WorkerClient"/>); a named one is a keyed service whose key
/// is its name (<c>[FromKeyedServices("udf")] WorkerPool pool</c>, or
/// <c>GetRequiredKeyedService&lt;WorkerPool&gt;("udf")</c>). Options are named options with the same
/// name, validated when the host starts (<c>ValidateOnStart</c>): an invalid setting or a missing or
/// invalid specification fails the start with an <see cref="OptionsValidationException"/> that names it.
/// </para>
/// <para>
/// The container owns what it builds: disposing it (synchronously or not) closes every pool, fleet
/// and client it created, stopping the pools' workers (a fleet's workers are not stopped: they
/// belong to the fleet, not to this process). The container's <c>ILoggerFactory</c>,
/// <see cref="TimeProvider"/> and <c>IMeterFactory</c> are used when the options leave theirs at the
/// defaults.
/// </para>
/// </remarks>
public static class EngineClientServiceCollectionExtensions
{
    /// <summary>Registers the default <see cref="WorkerPool"/> (resolved as a plain <see cref="WorkerPool"/>).</summary>
    /// <returns>The builder of its options: bind them (<c>BindConfiguration</c>) or configure them (<c>Configure</c>).</returns>
    public static OptionsBuilder<WorkerPoolServiceOptions> AddWorkerPool(this IServiceCollection services) =>
        AddWorkerPool(services, Options.Options.DefaultName);

    /// <summary>Registers a <see cref="WorkerPool"/> named <paramref name="name"/>, resolved as the keyed service <paramref name="name"/>.</summary>
    /// <param name="services">The container's services.</param>
    /// <param name="name">The registration's name: the key of the service and the name of its options; empty for the default registration.</param>
    /// <returns>The builder of its options: bind them (<c>BindConfiguration</c>) or configure them (<c>Configure</c>).</returns>
    /// <exception cref="ArgumentException">A pool of that name is registered already.</exception>
    public static OptionsBuilder<WorkerPoolServiceOptions> AddWorkerPool(this IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        var registry = Registry(services);
        if (!registry.Pools.Add(name))
        {
            throw new ArgumentException($"A worker pool named '{name}' is registered already.", nameof(name));
        }

        if (name.Length == 0)
        {
            services.AddSingleton(sp => WorkerFactory.CreatePool(sp, name));
        }
        else
        {
            services.AddKeyedSingleton(name, (sp, _) => WorkerFactory.CreatePool(sp, name));
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WorkerPoolServiceOptions>, WorkerPoolServiceOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, WorkerHostedService>());
        return services.AddOptions<WorkerPoolServiceOptions>(name)
            .PostConfigure<IServiceProvider>((options, sp) => WorkerFactory.FillFromContainer(options, sp, name))
            .ValidateOnStart();
    }

    /// <summary>Registers the default <see cref="WorkerFleet"/> (resolved as a plain <see cref="WorkerFleet"/>).</summary>
    /// <returns>The builder of its options: bind them (<c>BindConfiguration</c>) or configure them (<c>Configure</c>).</returns>
    public static OptionsBuilder<WorkerFleetServiceOptions> AddWorkerFleet(this IServiceCollection services) =>
        AddWorkerFleet(services, Options.Options.DefaultName);

    /// <summary>
    /// Registers a <see cref="WorkerFleet"/> of remote workers named <paramref name="name"/>, resolved
    /// as the keyed service <paramref name="name"/>: a static list of addresses or a DNS target
    /// (<see cref="WorkerFleetServiceOptions"/>), created on first use or, with
    /// <see cref="WorkerFleetServiceOptions.StartWithHost"/>, as the host starts.
    /// </summary>
    /// <param name="services">The container's services.</param>
    /// <param name="name">The registration's name: the key of the service and the name of its options; empty for the default registration.</param>
    /// <returns>The builder of its options: bind them (<c>BindConfiguration</c>) or configure them (<c>Configure</c>).</returns>
    /// <exception cref="ArgumentException">A fleet of that name is registered already.</exception>
    public static OptionsBuilder<WorkerFleetServiceOptions> AddWorkerFleet(this IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        var registry = Registry(services);
        if (!registry.Fleets.Add(name))
        {
            throw new ArgumentException($"A worker fleet named '{name}' is registered already.", nameof(name));
        }

        if (name.Length == 0)
        {
            services.AddSingleton(sp => WorkerFactory.CreateFleet(sp, name));
        }
        else
        {
            services.AddKeyedSingleton(name, (sp, _) => WorkerFactory.CreateFleet(sp, name));
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WorkerFleetServiceOptions>, WorkerFleetServiceOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, WorkerHostedService>());
        return services.AddOptions<WorkerFleetServiceOptions>(name)
            .PostConfigure<IServiceProvider>((options, sp) => WorkerFactory.FillFromContainer(options, sp, name))
            .ValidateOnStart();
    }

    /// <summary>Registers the default <see cref="WorkerClient"/> (resolved as a plain <see cref="WorkerClient"/>).</summary>
    /// <returns>The builder of its options.</returns>
    public static OptionsBuilder<WorkerClientServiceOptions> AddWorkerClient(this IServiceCollection services) =>
        AddWorkerClient(services, Options.Options.DefaultName);

    /// <summary>Registers a <see cref="WorkerClient"/> named <paramref name="name"/>, resolved as the keyed service <paramref name="name"/>.</summary>
    /// <param name="services">The container's services.</param>
    /// <param name="name">The registration's name: the key of the service and the name of its options; empty for the default registration.</param>
    /// <returns>The builder of its options.</returns>
    /// <exception cref="ArgumentException">A client of that name is registered already.</exception>
    public static OptionsBuilder<WorkerClientServiceOptions> AddWorkerClient(this IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(name);
        var registry = Registry(services);
        if (!registry.Clients.Add(name))
        {
            throw new ArgumentException($"A worker client named '{name}' is registered already.", nameof(name));
        }

        if (name.Length == 0)
        {
            services.AddSingleton(sp => WorkerFactory.CreateClient(sp, name));
        }
        else
        {
            services.AddKeyedSingleton(name, (sp, _) => WorkerFactory.CreateClient(sp, name));
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WorkerClientServiceOptions>, WorkerClientServiceOptionsValidator>());
        return services.AddOptions<WorkerClientServiceOptions>(name)
            .PostConfigure<IServiceProvider>((options, sp) => WorkerFactory.FillFromContainer(options, sp))
            .ValidateOnStart();
    }

    private static WorkerRegistry Registry(IServiceCollection services)
    {
        foreach (var descriptor in services)
        {
            if (descriptor.ServiceType == typeof(WorkerRegistry) && descriptor.ImplementationInstance is WorkerRegistry existing)
            {
                return existing;
            }
        }

        var registry = new WorkerRegistry();
        services.AddSingleton(registry);
        return registry;
    }
}
