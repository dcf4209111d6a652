using System.Reflection;

namespace Engine.Client.Tests.Transport;

/// <summary>
/// Every timeout and interval setting of every options class is refused by its Validate when it is
/// longer than the longest wait a timer or socket timeout takes (2^31 - 1 ms, about 24.8 days),
/// naming the setting. Found by reflection, so that a setting added later is covered too: a longer
/// value would otherwise fail later and inside (an <see cref="ArgumentOutOfRangeException"/> from a
/// timer, a socket handler or a wait), or in a background loop.
/// </summary>
[TestFixture]
public sealed class TimeoutBoundsTests
{
    private static readonly (string Holder, Func<(object Options, Action Validate)> Make)[] Holders =
    [
        ("WorkerClientOptions", () => { var o = new WorkerClientOptions(); return (o, o.Validate); }),
        ("WorkerClientOptions.Connection", () => { var o = new WorkerClientOptions(); return (o.Connection, o.Validate); }),
        ("WorkerClientOptions.Session", () => { var o = new WorkerClientOptions(); return (o.Session, o.Validate); }),
        ("WorkerPoolOptions", () => { var o = new WorkerPoolOptions(); return (o, o.Validate); }),
        ("WorkerPoolOptions.Process", () => { var o = new WorkerPoolOptions(); return (o.Process, o.Validate); }),
        ("WorkerPoolOptions.Environment", () => { var o = new WorkerPoolOptions(); return (o.Environment, o.Validate); }),
        ("WorkerPoolOptions.Connection", () => { var o = new WorkerPoolOptions(); return (o.Connection, o.Validate); }),
        ("WorkerPoolOptions.Session", () => { var o = new WorkerPoolOptions(); return (o.Session, o.Validate); }),
        ("WorkerFleetOptions", () => { var o = new WorkerFleetOptions(); return (o, o.Validate); }),
        ("WorkerFleetOptions.Connection", () => { var o = new WorkerFleetOptions(); return (o.Connection, o.Validate); }),
        ("WorkerFleetOptions.Session", () => { var o = new WorkerFleetOptions(); return (o.Session, o.Validate); }),
    ];

    public static IEnumerable<TestCaseData> Settings() =>
        from holder in Holders
        from property in holder.Make().Options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance)
        where property.CanWrite && (property.PropertyType == typeof(TimeSpan) || property.PropertyType == typeof(TimeSpan?))
        select new TestCaseData(holder.Holder, property.Name).SetName($"{holder.Holder}.{property.Name} of 25 days is refused, naming it");

    [TestCaseSource(nameof(Settings))]
    public void A_timeout_longer_than_a_timer_takes_is_refused_naming_it(string holder, string property)
    {
        var (options, validate) = Holders.Single(h => h.Holder == holder).Make();
        options.GetType().GetProperty(property)!.SetValue(options, TimeSpan.FromDays(25));

        var refused = Assert.Throws<ArgumentException>(() => validate());

        Assert.That(refused!.Message, Does.Contain($"{property} is").And.Contain("at most 24.8 days"));
    }

    [Test]
    public void Every_options_class_has_timeout_settings_under_test()
    {
        Assert.That(Settings().Count(), Is.GreaterThanOrEqualTo(30), "the reflection finds the settings");
    }

    [Test]
    public void The_longest_timeout_itself_is_accepted()
    {
        var options = new WorkerClientOptions { HeartbeatTimeout = TimeSpan.FromMilliseconds(int.MaxValue) };
        options.Session.InitResponseTimeout = TimeSpan.FromMilliseconds(int.MaxValue);
        options.Connection.ConnectTimeout = TimeSpan.FromMilliseconds(int.MaxValue);

        Assert.DoesNotThrow(options.Validate);
    }
}
