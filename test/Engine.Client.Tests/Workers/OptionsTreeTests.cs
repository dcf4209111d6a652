using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Engine.Client.Tests.Workers;

/// <summary>
/// The options form one shallow tree set at its root: what is set once on WorkerPoolOptions reaches
/// every part, nothing nested silently overrides it, and a created client or pool keeps its own copy.
/// </summary>
public sealed class OptionsTreeTests
{
    [Test]
    public void Settings_made_once_on_the_pool_reach_each_workers_client_and_the_environment_setup()
    {
        using var loggers = LoggerFactory.Create(_ => { });
        var clock = new FakeTimeProvider();
        var options = new WorkerPoolOptions
        {
            LoggerFactory = loggers,
            TimeProvider = clock,
            HeartbeatTimeout = TimeSpan.FromMilliseconds(700),
            Connection = { MaxSendMessageSize = 8 << 20, KeepAlivePingDelay = TimeSpan.FromMinutes(10) },
            Session = { InitResponseTimeout = TimeSpan.FromSeconds(42) },
            Name = "udf",
        };

        var effective = options.Effective();
        var client = effective.Process.Client;

        Assert.That(client.LoggerFactory, Is.SameAs(loggers));
        Assert.That(client.TimeProvider, Is.SameAs(clock));
        Assert.That(client.HeartbeatTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(700)));
        Assert.That(client.Connection.MaxSendMessageSize, Is.EqualTo(8 << 20));
        Assert.That(client.Connection.KeepAlivePingDelay, Is.EqualTo(TimeSpan.FromMinutes(10)));
        Assert.That(client.Session.InitResponseTimeout, Is.EqualTo(TimeSpan.FromSeconds(42)));
        Assert.That(client.PoolName, Is.EqualTo("udf"));
        Assert.That(effective.Environment.LoggerFactory, Is.SameAs(loggers));
        Assert.That(effective.Environment.TimeProvider, Is.SameAs(clock));
    }

    [Test]
    public void The_pool_keeps_its_own_copy_of_the_tree()
    {
        var options = new WorkerPoolOptions { Connection = { MaxSendMessageSize = 8 << 20 } };

        var effective = options.Effective();
        options.Connection.MaxSendMessageSize = 64 << 10;
        options.Session.OutputBufferCapacity = 99;

        Assert.That(effective.Connection.MaxSendMessageSize, Is.EqualTo(8 << 20));
        Assert.That(effective.Process.Client.Connection.MaxSendMessageSize, Is.EqualTo(8 << 20));
        Assert.That(effective.Session.OutputBufferCapacity, Is.Not.EqualTo(99));
    }

    [Test]
    public void A_clients_Options_is_a_copy_that_changes_nothing()
    {
        using var client = WorkerClient.Create("unix:///tmp/options-tree-test.sock", new WorkerClientOptions { Connection = { MaxSendMessageSize = 8 << 20 } });

        var copy = client.Options;
        copy.Connection.MaxSendMessageSize = 64 << 10;
        copy.Session.OutputBufferCapacity = 99;

        Assert.That(client.Options, Is.Not.SameAs(copy));
        Assert.That(client.Options.Connection.MaxSendMessageSize, Is.EqualTo(8 << 20));
        Assert.That(client.Options.Session.OutputBufferCapacity, Is.Not.EqualTo(99));
    }

    [Test]
    public void A_bad_connection_setting_on_the_pool_is_named_when_the_pool_is_created()
    {
        var options = new WorkerPoolOptions { Connection = { MaxSendMessageSize = 1 } };

        Assert.That(options.Validate, Throws.ArgumentException.With.Message.Contains("MaxSendMessageSize"));
    }
}
