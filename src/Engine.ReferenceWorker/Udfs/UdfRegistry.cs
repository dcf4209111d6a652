using System.Diagnostics.CodeAnalysis;
using Engine.ReferenceWorker.Udfs.Builtin;
using Engine.ReferenceWorker.Udfs.Faults;

namespace Engine.ReferenceWorker.Udfs;

/// <summary>
/// The UDF implementations this worker knows, keyed by payload format (<c>Init.udf.format</c>).
/// Adding a format is one <see cref="Register"/> call: the stream machinery is shared.
/// </summary>
internal sealed class UdfRegistry
{
    private readonly Dictionary<string, Func<Udf>> _factories = new(StringComparer.Ordinal);

    /// <summary>The formats known, in registration order, for error messages.</summary>
    public IReadOnlyList<string> Formats => [.. _factories.Keys];

    /// <summary>The worker's own formats: <c>echo</c>, <c>fault</c>, <c>fuzz</c> and <c>builtin</c>.</summary>
    public static UdfRegistry CreateDefault() => new UdfRegistry()
        .Register(EchoUdf.Format, static () => new EchoUdf())
        .Register(FaultUdf.Format, static () => new FaultUdf())
        .Register(FuzzUdf.Format, static () => new FuzzUdf())
        .Register(BuiltinUdf.Format, static () => new BuiltinUdf());

    /// <summary>Adds (or replaces) the factory of <paramref name="format"/>; it is called once per stream.</summary>
    public UdfRegistry Register(string format, Func<Udf> factory)
    {
        ArgumentException.ThrowIfNullOrEmpty(format);
        ArgumentNullException.ThrowIfNull(factory);
        _factories[format] = factory;
        return this;
    }

    /// <summary>A fresh UDF for <paramref name="format"/>, or <see langword="false"/> when the format is unknown.</summary>
    public bool TryCreate(string format, [NotNullWhen(true)] out Udf? udf)
    {
        if (_factories.TryGetValue(format, out var factory))
        {
            udf = factory();
            return true;
        }

        udf = null;
        return false;
    }
}
