extern alias cli;

using Engine.Client.Load;
using Engine.Client.Tests.Cli;
using InputFiles = cli::Engine.Client.Cli.Operations.InputFiles;

namespace Engine.Client.Tests.Load;

/// <summary>
/// Inputs too large to hold in memory (a payload, an Arrow input, a JSON file, generated input)
/// are refused by <c>engine-client load</c> (and <c>run</c>'s payload) before any work, as one
/// usage line (exit 2) naming the option, the size and the limit; a file whose length is not
/// known in advance (a device) is read to just past the limit, never to its end. The large files
/// are sparse (no disk, no memory), and nothing here allocates more than the limit.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.Children)]
public sealed class CliLoadInputLimitTests
{
    /// <summary>Nothing listens here: a command that got as far as connecting would exit 3, not 2.</summary>
    private const string NoWorker = "unix:///nonexistent/engine-client-limit-test.sock";

    private const long OverLimit = 300L * 1024 * 1024;

    private string _directory = null!;
    private string _big = null!;

    [OneTimeSetUp]
    public void CreateFiles()
    {
        _directory = Directory.CreateTempSubdirectory("ec-load-limit-").FullName;
        _big = Path.Combine(_directory, "big.bin");
        using var file = new FileStream(_big, FileMode.CreateNew, FileAccess.Write);
        file.SetLength(OverLimit);
    }

    [OneTimeTearDown]
    public void RemoveFiles() => Directory.Delete(_directory, recursive: true);

    private static string[] Load(params string[] more) => ["load", "--worker", NoWorker, "--format", "echo", "--sessions", "1", "--no-progress", .. more];

    private static void AssertRefused(CliResult result, params string[] expected)
    {
        Assert.Multiple(() =>
        {
            Assert.That(result.ExitCode, Is.EqualTo(2), result.ToString());
            Assert.That(result.StderrLines, Has.Count.EqualTo(1), result.ToString());
            Assert.That(result.Stderr, Does.Not.Contain("Out of memory").And.Not.Contain("Exception"), result.ToString());
            foreach (var text in expected)
            {
                Assert.That(result.Stderr, Does.Contain(text), result.ToString());
            }
        });
    }

    private string Scenario(string name, string json)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, json);
        return path;
    }

    [TestCase("--payload-file")]
    [TestCase("--input")]
    [TestCase("--stages")]
    [TestCase("--scenario")]
    public async Task A_file_over_the_limit_is_refused_by_its_length_naming_the_option_the_size_and_the_limit(string option)
    {
        string[] more = option switch
        {
            "--stages" => ["--rate", "1", option, _big],
            "--input" => [option, _big],
            _ => ["--rows", "10", option, _big],
        };

        var result = await CliProcess.RunAsync(Load(more));

        AssertRefused(result, $"{option} '{_big}' is 300 MiB (314572800 bytes), more than the 256 MiB");
    }

    [TestCase("payloadFile")]
    [TestCase("inputFile")]
    public async Task A_scenario_file_naming_a_file_over_the_limit_is_refused_naming_the_scenario_and_the_field(string field)
    {
        var scenario = Scenario($"big-{field}.json", $$"""{"scenarios":[{"name":"a","format":"echo","{{field}}":"big.bin"}]}""");

        var result = await CliProcess.RunAsync(Load("--scenario", scenario));

        AssertRefused(result, $"scenario 1 {field} '{_big}' is 300 MiB (314572800 bytes), more than the 256 MiB");
    }

    [Test]
    public async Task Run_refuses_a_payload_file_over_the_limit_the_same_way()
    {
        var result = await CliProcess.RunAsync("run", "--worker", NoWorker, "--format", "echo", "--payload-file", _big);

        AssertRefused(result, $"--payload-file '{_big}' is 300 MiB (314572800 bytes), more than the 256 MiB");
    }

    /// <summary>A device reports length 0 and never ends: it is read to one byte past the limit, then refused.</summary>
    [TestCase("--input")]
    [TestCase("--payload-file")]
    public async Task An_endless_device_is_read_to_just_past_the_limit_and_refused(string option)
    {
        var result = await CliProcess.RunAsync(Load(option == "--input" ? [option, "/dev/zero"] : ["--rows", "10", option, "/dev/zero"]));

        AssertRefused(result, $"{option} '/dev/zero' holds more than 256 MiB (it did not end within 268435456 bytes)");
    }

    [TestCase(new[] { "--rows", "2000000000", "--batch-rows", "2000000000" }, "2000000000 rows of 8 bytes (x:int64) in 1 batches of 2000000000 rows would take about 14.9 GiB per session, more than the limit of 256 MiB")]
    [TestCase(new[] { "--rows", "99999999999" }, "99999999999 rows of 8 bytes (x:int64) in 97656250 batches of 1024 rows would take about 809.09 GiB")]
    [TestCase(new[] { "--rows", "99999999999", "--batch-rows", "1" }, "a session sends at most 2147483647 batches")]
    [TestCase(new[] { "--rows", "300", "--columns", "s:string(1048576)" }, "300 rows of 1048580 bytes (s:string(1048576)) in 1 batches of 300 rows would take about 300 MiB per session")]
    public async Task Generated_input_over_the_limit_is_refused_before_any_of_it_is_made(string[] arguments, string expected)
    {
        var result = await CliProcess.RunAsync(Load(arguments));

        AssertRefused(result, "generated input (--rows, --batch-rows, --batches, --columns): ", expected);
    }

    [Test]
    public async Task A_scenario_s_generated_input_over_the_limit_is_refused_naming_the_scenario()
    {
        var scenario = Scenario("big-rows.json", """{"scenarios":[{"name":"a","format":"echo","input":{"rows":2000000000}}]}""");

        var result = await CliProcess.RunAsync(Load("--scenario", scenario));

        AssertRefused(result, "scenario 1: 2000000000 rows of 8 bytes (x:int64)", "more than the limit of 256 MiB");
    }

    [Test]
    public void The_bounded_read_takes_up_to_the_limit_and_refuses_one_byte_more_even_when_the_length_is_unknown()
    {
        Assert.Multiple(() =>
        {
            Assert.That(InputFiles.ReadBounded(new MemoryStream(new byte[100]), 0, 100), Has.Length.EqualTo(100));
            Assert.That(InputFiles.ReadBounded(new MemoryStream(new byte[101]), 0, 100), Is.Null);
            Assert.That(InputFiles.ReadBounded(new MemoryStream(new byte[101]), 101, 100), Is.Null);
            Assert.That(InputFiles.ReadBounded(new MemoryStream([]), 0, 100), Is.Empty);
        });

        // Several pieces (the length not known in advance), ending on a piece's boundary: every byte, in order.
        var content = new byte[(2 << 20) + 3];
        new Random(5).NextBytes(content);
        Assert.That(InputFiles.ReadBounded(new MemoryStream(content), 0, 4 << 20), Is.EqualTo(content));
        Assert.That(InputFiles.ReadBounded(new MemoryStream(content[..(2 << 20)]), 0, 2 << 20), Is.EqualTo(content[..(2 << 20)]));
        Assert.That(InputFiles.ReadBounded(new MemoryStream(content), 0, 2 << 20), Is.Null);

        // An endless stream: reading stops one byte past the limit.
        using var zero = new FileStream("/dev/zero", FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        Assert.That(InputFiles.ReadBounded(zero, 0, 1 << 20), Is.Null);
        Assert.That(zero.Position, Is.EqualTo((1 << 20) + 1));
    }

    [Test]
    public void The_estimate_of_generated_input_is_rows_times_the_row_width_plus_framing_per_batch()
    {
        var columns = LoadInput.ParseColumns("a:int32,b:int64,c:float64,d:bool,e:string(10),f:binary");

        Assert.Multiple(() =>
        {
            Assert.That(LoadInput.RowBytes(columns), Is.EqualTo(4 + 8 + 8 + 0.125 + 14 + 12));
            Assert.That(LoadInput.EstimateBytes(columns, 1000, 2), Is.EqualTo((1000 * 46.125) + (2 * (512 + (6 * 192)))));
            Assert.That(LoadInput.Shape(99_999_999_999, null, null), Is.EqualTo((99_999_999_999L, 1024L, 97_656_250L)));
            Assert.That(() => LoadInput.Shape(99_999_999_999, 1, null), Throws.ArgumentException);
        });

        // The estimate is an upper bound of what Generate makes.
        var made = LoadInput.Generate(columns, 1000, 100, null);
        Assert.That(made.Bytes, Is.LessThanOrEqualTo(LoadInput.EstimateBytes(columns, 1000, 10)));
    }
}
