using System.IO.Hashing;
using System.Text;

namespace Engine.Client.Fleets;

/// <summary>
/// Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, 2016): every node has
/// <c>points</c> places on a 64-bit ring (XxHash64 of <c>name#i</c>); a key (XxHash64 of its UTF-8
/// bytes) goes to the first node clockwise from it that accepts it, where a node accepts while its
/// load stays under the bound the caller checks. With every node accepting, a node's arrival or
/// departure moves only the keys whose first node changed: about 1/N of them. Immutable: built
/// again when the nodes change.
/// </summary>
internal sealed class AffinityRing<T>
    where T : class
{
    private readonly ulong[] _hashes;
    private readonly T[] _owners;

    private AffinityRing(ulong[] hashes, T[] owners, int nodes)
    {
        _hashes = hashes;
        _owners = owners;
        NodeCount = nodes;
    }

    public static AffinityRing<T> Empty { get; } = new([], [], 0);

    public int NodeCount { get; }

    public static AffinityRing<T> Build(IReadOnlyList<T> nodes, Func<T, string> name, int points)
    {
        var hashes = new ulong[nodes.Count * points];
        var owners = new T[hashes.Length];
        var index = 0;
        foreach (var node in nodes)
        {
            var prefix = name(node) + "#";
            for (var i = 0; i < points; i++)
            {
                hashes[index] = Hash(prefix + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                owners[index] = node;
                index++;
            }
        }

        Array.Sort(hashes, owners);
        return new AffinityRing<T>(hashes, owners, nodes.Count);
    }

    public static ulong Hash(string text) => XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// The first node clockwise from <paramref name="keyHash"/> that <paramref name="accepts"/>
    /// takes, each node asked once; <see langword="null"/> when none does.
    /// </summary>
    public T? Find(ulong keyHash, Func<T, bool> accepts)
    {
        if (_hashes.Length == 0)
        {
            return null;
        }

        var start = Array.BinarySearch(_hashes, keyHash);
        if (start < 0)
        {
            start = ~start;
        }

        HashSet<T>? refused = null;
        for (var step = 0; step < _hashes.Length; step++)
        {
            var owner = _owners[(start + step) % _hashes.Length];
            if (refused is not null && refused.Contains(owner))
            {
                continue;
            }

            if (accepts(owner))
            {
                return owner;
            }

            refused ??= new HashSet<T>(ReferenceEqualityComparer.Instance);
            refused.Add(owner);
            if (refused.Count == NodeCount)
            {
                return null;
            }
        }

        return null;
    }
}
