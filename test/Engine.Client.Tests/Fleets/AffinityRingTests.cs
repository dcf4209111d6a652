using System.Globalization;
using Engine.Client.Fleets;

namespace Engine.Client.Tests.Fleets;

/// <summary>The consistent-hashing ring alone: stable keys, minimal movement, the load bound honoured.</summary>
public sealed class AffinityRingTests
{
    private sealed record Node(string Name);

    private static List<Node> Nodes(int count) => [.. Enumerable.Range(0, count).Select(i => new Node("http://10.0.0." + i.ToString(CultureInfo.InvariantCulture) + ":7070"))];

    private static AffinityRing<Node> Ring(IReadOnlyList<Node> nodes) => AffinityRing<Node>.Build(nodes, n => n.Name, 160);

    private static string Key(int i) => "key-" + i.ToString(CultureInfo.InvariantCulture);

    [Test]
    public void The_same_key_maps_to_the_same_node_every_time()
    {
        var ring = Ring(Nodes(8));
        var hash = AffinityRing<Node>.Hash("a payload digest");
        var home = ring.Find(hash, _ => true);
        for (var i = 0; i < 1000; i++)
        {
            Assert.That(Ring(Nodes(8)).Find(hash, _ => true), Is.EqualTo(home));
        }
    }

    [Test]
    public void Removing_one_of_N_nodes_moves_only_its_keys()
    {
        var nodes = Nodes(10);
        var before = Ring(nodes);
        var removed = nodes[3];
        var after = Ring([.. nodes.Where(n => n != removed)]);
        var moved = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var hash = AffinityRing<Node>.Hash(Key(i));
            var was = before.Find(hash, _ => true)!;
            var now = after.Find(hash, _ => true)!;
            if (was != removed)
            {
                Assert.That(now, Is.EqualTo(was), $"key {i} moved from {was.Name} although {removed.Name} left");
            }
            else
            {
                moved++;
            }
        }

        // About 1/N of the keys were on the removed node: between half and twice that.
        Assert.That(moved, Is.InRange(20_000 / 10 / 2, 20_000 / 10 * 2));
    }

    [Test]
    public void Adding_a_node_moves_keys_only_to_it_and_about_one_in_N()
    {
        var nodes = Nodes(9);
        var before = Ring(nodes);
        var added = new Node("http://10.0.1.1:7070");
        var after = Ring([.. nodes, added]);
        var moved = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var hash = AffinityRing<Node>.Hash(Key(i));
            var now = after.Find(hash, _ => true)!;
            if (now != before.Find(hash, _ => true))
            {
                Assert.That(now, Is.EqualTo(added));
                moved++;
            }
        }

        Assert.That(moved, Is.InRange(20_000 / 10 / 2, 20_000 / 10 * 2));
    }

    [Test]
    public void A_refusing_node_passes_the_key_to_the_next_one_clockwise_and_none_refuses_forever()
    {
        var nodes = Nodes(4);
        var ring = Ring(nodes);
        var hash = AffinityRing<Node>.Hash("hot");
        var home = ring.Find(hash, _ => true)!;
        var next = ring.Find(hash, n => n != home)!;
        Assert.That(next, Is.Not.EqualTo(home));
        Assert.That(ring.Find(hash, _ => false), Is.Null);
    }
}
