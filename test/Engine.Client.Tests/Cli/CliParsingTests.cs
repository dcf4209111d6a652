extern alias cli;

using cli::Engine.Client.Cli.Operations;
using cli::Engine.Client.Cli.Parsing;

namespace Engine.Client.Tests.Cli;

/// <summary>The parsers behind --timeout, --keepalive, --chunk-size, --session-conf and --task-context, and the session options --timeout implies.</summary>
[TestFixture]
public sealed class CliParsingTests
{
    [TestCase("500ms", 500)]
    [TestCase("30s", 30_000)]
    [TestCase("1.5s", 1_500)]
    [TestCase("2m", 120_000)]
    [TestCase("1h", 3_600_000)]
    [TestCase("1m30s", 90_000)]
    [TestCase(" 10S ", 10_000)]
    [TestCase("1ms", 1)]
    public void Durations_with_units_parse(string text, int milliseconds)
    {
        Assert.That(Durations.TryParse(text, out var value, out var error), Is.True, error);
        Assert.That(value, Is.EqualTo(TimeSpan.FromMilliseconds(milliseconds)));
    }

    [TestCase("", "is empty")]
    [TestCase("30", "has no unit")]
    [TestCase("3x", "unknown unit 'x'")]
    [TestCase("2d", "unknown unit 'd'")]
    [TestCase("soon", "is not a duration")]
    [TestCase("-5s", "is not a duration")]
    [TestCase("0s", "shorter than 1 ms")]
    [TestCase("0.1ms", "shorter than 1 ms")]
    [TestCase("1.2.3s", "is not a number")]
    [TestCase("600h", "longer than the 24 days")]
    public void Bad_durations_say_why(string text, string fragment)
    {
        Assert.That(Durations.TryParse(text, out _, out var error), Is.False);
        Assert.That(error, Does.Contain(fragment));
        Assert.That(error, Does.Contain("500ms").Or.Contain("positive").Or.Contain("shorter"));
    }

    [TestCase("off", -1)]
    [TestCase(" OFF ", -1)]
    [TestCase("1s", 1_000)]
    [TestCase("10m", 600_000)]
    public void Keepalive_delays_are_off_or_a_duration_of_at_least_1_s(string text, int milliseconds)
    {
        Assert.That(Durations.TryParseKeepAlive(text, out var value, out var error), Is.True, error);
        Assert.That(value, Is.EqualTo(TimeSpan.FromMilliseconds(milliseconds)));
    }

    [TestCase("999ms", "shorter than 1 s")]
    [TestCase("30", "has no unit")]
    [TestCase("never", "or off.")]
    public void Bad_keepalive_delays_say_why(string text, string fragment)
    {
        Assert.That(Durations.TryParseKeepAlive(text, out _, out var error), Is.False);
        Assert.That(error, Does.Contain(fragment));
    }

    [Test]
    public void The_keepalive_reaches_the_client_options_and_without_it_the_sdk_default_stays()
    {
        var request = new RunRequest { Worker = WorkerAddress.Parse("unix:///tmp/w.sock"), Format = "echo" };

        Assert.Multiple(() =>
        {
            Assert.That(request.BuildClientOptions().Connection.KeepAlivePingDelay, Is.EqualTo(new WorkerClientOptions().Connection.KeepAlivePingDelay));
            Assert.That((request with { KeepAlive = TimeSpan.FromMinutes(10) }).BuildClientOptions().Connection.KeepAlivePingDelay, Is.EqualTo(TimeSpan.FromMinutes(10)));
            Assert.That((request with { KeepAlive = Timeout.InfiniteTimeSpan }).BuildClientOptions().Connection.KeepAlivePingDelay, Is.EqualTo(Timeout.InfiniteTimeSpan));
        });
    }

    [TestCase(250, "250 ms")]
    [TestCase(1500, "1.5 s")]
    [TestCase(180_000, "3 min")]
    public void Durations_format_for_people(int milliseconds, string expected) =>
        Assert.That(Durations.Format(TimeSpan.FromMilliseconds(milliseconds)), Is.EqualTo(expected));

    [TestCase("65536", 65536L)]
    [TestCase("64KiB", 65536L)]
    [TestCase("64k", 65536L)]
    [TestCase("64KB", 65536L)]
    [TestCase("1MiB", 1048576L)]
    [TestCase("1m", 1048576L)]
    [TestCase("2GiB", 2147483648L)]
    [TestCase("10 B", 10L)]
    public void Byte_sizes_parse(string text, long expected)
    {
        Assert.That(ByteSizes.TryParse(text, out var value, out var error), Is.True, error);
        Assert.That(value, Is.EqualTo(expected));
    }

    [TestCase("", "is empty")]
    [TestCase("big", "is not a byte size")]
    [TestCase("-1", "is not a byte size")]
    [TestCase("1.5MiB", "unknown unit")]
    [TestCase("12TB", "unknown unit")]
    [TestCase("0", "is zero")]
    [TestCase("99999999999999999999", "is not a byte size")]
    [TestCase("9999999999G", "too large")]
    public void Bad_byte_sizes_say_why(string text, string fragment)
    {
        Assert.That(ByteSizes.TryParse(text, out _, out var error), Is.False);
        Assert.That(error, Does.Contain(fragment));
    }

    [TestCase("a=b", "a", "b")]
    [TestCase("a=", "a", "")]
    [TestCase("a==b", "a", "=b")]
    [TestCase("spark.conf=x=y", "spark.conf", "x=y")]
    [TestCase("key with space=value with space", "key with space", "value with space")]
    public void Key_values_split_at_the_first_equals(string text, string key, string value)
    {
        Assert.That(KeyValues.TryParse(text, out var pair, out var error), Is.True, error);
        Assert.That(pair, Is.EqualTo(new KeyValuePair<string, string>(key, value)));
    }

    [TestCase("", "is empty")]
    [TestCase("novalue", "has no '='")]
    [TestCase("=value", "has an empty key")]
    public void Bad_key_values_say_why(string text, string fragment)
    {
        Assert.That(KeyValues.TryParse(text, out _, out var error), Is.False);
        Assert.That(error, Does.Contain(fragment));
    }

    [Test]
    public void The_last_value_of_a_repeated_key_wins()
    {
        var parsed = KeyValues.ParseAll(["a=1", "b=2", "a=3"], "--session-conf");

        Assert.That(parsed, Is.EqualTo(new Dictionary<string, string> { ["a"] = "3", ["b"] = "2" }));
    }

    [Test]
    public void A_bad_item_names_its_option()
    {
        var failure = Assert.Throws<UsageException>(() => KeyValues.ParseAll(["a=1", "oops"], "--task-context"));

        Assert.That(failure!.Message, Does.StartWith("--task-context 'oops' has no '='"));
    }

    [TestCase(500, 100)]
    [TestCase(1_000, 100)]
    [TestCase(5_000, 500)]
    [TestCase(20_000, 2_000)]
    [TestCase(600_000, 2_000)]
    public void The_cancel_grace_is_a_tenth_of_the_timeout_between_100_ms_and_2_s(int timeout, int grace) =>
        Assert.That(RunRequest.CancelGrace(TimeSpan.FromMilliseconds(timeout)), Is.EqualTo(TimeSpan.FromMilliseconds(grace)));

    [Test]
    public void A_timeout_caps_the_protocol_timeouts_and_the_connect_timeout()
    {
        var request = new RunRequest { Worker = WorkerAddress.Parse("unix:///tmp/w.sock"), Format = "echo", Timeout = TimeSpan.FromSeconds(5) };

        var client = request.BuildClientOptions();

        Assert.Multiple(() =>
        {
            Assert.That(client.Session.InitResponseTimeout, Is.EqualTo(TimeSpan.FromSeconds(5)));
            Assert.That(client.Session.IdleTimeout, Is.EqualTo(TimeSpan.FromSeconds(5)));
            Assert.That(client.Session.CancelAcknowledgementTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(500)));
            Assert.That(client.Connection.ConnectTimeout, Is.EqualTo(TimeSpan.FromSeconds(5)));
        });
    }

    [Test]
    public void Without_a_timeout_the_sdk_defaults_stay()
    {
        var request = new RunRequest { Worker = WorkerAddress.Parse("unix:///tmp/w.sock"), Format = "echo" };
        var defaults = new SessionOptions();

        var client = request.BuildClientOptions();

        Assert.Multiple(() =>
        {
            Assert.That(client.Session.InitResponseTimeout, Is.EqualTo(defaults.InitResponseTimeout));
            Assert.That(client.Session.IdleTimeout, Is.EqualTo(defaults.IdleTimeout));
            Assert.That(client.Session.CancelAcknowledgementTimeout, Is.EqualTo(defaults.CancelAcknowledgementTimeout));
            Assert.That(client.Connection.ConnectTimeout, Is.EqualTo(new WorkerClientOptions().Connection.ConnectTimeout));
        });
    }

    [Test]
    public void A_chunk_size_smaller_than_the_payload_forces_chunking()
    {
        var target = WorkerAddress.Parse("unix:///tmp/w.sock");
        var small = new RunRequest { Worker = target, Format = "echo", Payload = new byte[100], ChunkSize = 64 };
        var large = small with { ChunkSize = 100 };
        var none = small with { ChunkSize = null };

        Assert.Multiple(() =>
        {
            Assert.That(small.BuildInit().Chunking, Is.EqualTo(PayloadChunking.Always));
            Assert.That(large.BuildInit().Chunking, Is.EqualTo(PayloadChunking.Auto));
            Assert.That(none.BuildInit().Chunking, Is.EqualTo(PayloadChunking.Auto));
            Assert.That(small.BuildClientOptions().Session.PayloadChunkSize, Is.EqualTo(64));
        });
    }

    [Test]
    public void The_init_carries_the_payload_format_session_conf_and_task_context()
    {
        var request = new RunRequest
        {
            Worker = WorkerAddress.Parse("unix:///tmp/w.sock"),
            Format = "builtin",
            Payload = new byte[] { 1, 2, 3 },
            SessionConf = new Dictionary<string, string> { ["spark.sql.session.timeZone"] = "UTC" },
            TaskContext = new Dictionary<string, string> { ["partition_id"] = "3", ["stage_id"] = "1" },
        };

        var init = request.BuildInit();

        Assert.Multiple(() =>
        {
            Assert.That(init.PayloadFormat, Is.EqualTo("builtin"));
            Assert.That(init.Payload.ToArray(), Is.EqualTo(new byte[] { 1, 2, 3 }));
            Assert.That(init.SessionConf, Is.EquivalentTo(request.SessionConf));
            Assert.That(init.TaskContext, Is.EquivalentTo(request.TaskContext));
        });
    }
}
