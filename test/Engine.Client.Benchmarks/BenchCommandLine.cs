using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Engine.Client.Benchmarks.Harness;

namespace Engine.Client.Benchmarks;

/// <summary>Options shared by the end-to-end modes.</summary>
public sealed record BenchOptions
{
    public IReadOnlyList<BenchTransport> Transports { get; init; } = [BenchTransport.Uds, BenchTransport.Tcp];

    public IReadOnlyList<int> BatchSizes { get; init; } = [1024, 64 * 1024, 1024 * 1024, 4 * 1024 * 1024];

    public int Repetitions { get; init; } = 20;

    public double Scale { get; init; } = 1;

    public string? OutputDirectory { get; init; }

    public bool SkipThroughput { get; init; }

    public bool SkipChurn { get; init; }

    public bool SkipSoak { get; init; }

    public long SoakBytes { get; init; } = 4L << 30;

    public IReadOnlyList<int> SoakBatchSizes { get; init; } = [1024 * 1024, 4 * 1024 * 1024];

    /// <summary>The client of a standalone <c>soak</c> run: the SDK or the hand-written loop.</summary>
    public Variant SoakClient { get; init; } = Variant.Sdk;

    /// <summary>Which side's settings the transport sweep measures: client, worker or all.</summary>
    public string SweepSide { get; init; } = "all";

    /// <summary>Seeds of a fuzzing run.</summary>
    public int FuzzSeeds { get; init; } = 5000;

    /// <summary>The first seed of a fuzzing run.</summary>
    public int FuzzFirstSeed { get; init; }

    /// <summary>Fuzzed sessions at a time.</summary>
    public int FuzzParallelism { get; init; } = 8;

    /// <summary>Concurrent streams of the worker-memory run.</summary>
    public int MemoryStreams { get; init; } = 64;

    /// <summary>HTTP/2 connections of the worker-memory run (the streams are spread over them).</summary>
    public int MemoryConnections { get; init; } = 64;

    /// <summary>Pause of the worker-memory run's consumer after each output batch (a slow engine).</summary>
    public TimeSpan MemoryReadDelay { get; init; }

    /// <summary>How long each stream of the worker-memory run sends.</summary>
    public TimeSpan MemoryDuration { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>How long the load-memory run lasts, in minutes.</summary>
    public int LoadMinutes { get; init; } = 10;

    /// <summary>The load-memory run's arrival rate, sessions per second.</summary>
    public double LoadRate { get; init; } = 200;

    /// <summary>
    /// Pins the engine (this process) to the first CPU and the worker to the second, so that the
    /// scheduler's placement of the two processes does not vary from block to block.
    /// </summary>
    public bool Pin { get; init; }

    /// <summary>
    /// The load mode's one side to run alone in this process (hand-written, SDK or load), or null
    /// for all three alternating block by block.
    /// </summary>
    public string? LoadSide { get; init; }

    /// <summary>
    /// The worker of the load and phases modes: the reference worker (.NET, Kestrel) or the native
    /// gRPC C++ echo worker (gRPC core, as the Python workers users run).
    /// </summary>
    public bool AgainstNative { get; init; }

    /// <summary>Phases mode: each client's sessions in a block of their own (as the load mode runs them) instead of alternating session by session.</summary>
    public bool PhaseBlocks { get; init; }

    /// <summary>Phases mode: a busy wait in the hand-written session between its InitResponse and its batch's write.</summary>
    public TimeSpan HandDelay { get; init; }

    /// <summary>Extra reference worker flags of the worker-memory run.</summary>
    public IReadOnlyList<string> WorkerArguments { get; init; } = [];

    /// <summary>Environment variables of the reference worker in the worker-memory run (GC settings, say).</summary>
    public IReadOnlyDictionary<string, string> WorkerEnvironment { get; init; } = new Dictionary<string, string>();
}

/// <summary>Parses the harness's command line.</summary>
public static class BenchCommandLine
{
    public const string Usage = """
        usage: Engine.Client.Benchmarks <mode> [options]

        modes:
          e2e          throughput (SDK vs hand-written), session churn and the 4 GiB one-session run;
                       writes JSON and Markdown results
          throughput   throughput only
          churn        session churn only
          alloc-profile  what a short session allocates, by type (the runtime's allocation sampling),
                       SDK then hand-written, against the reference worker
          native       the native gRPC C++ echo client, the hand-written .NET loop, the SDK (plain and
                       pooled output) and the raw HTTP/2 ceiling against the native C++ echo worker and
                       the reference worker: every figure as ratios to native and to hand-written
                       (builds Native/ with g++; needs libgrpc++-dev and protobuf-compiler-grpc)
          soak         the one-session memory run only (normally started by e2e in a fresh process)
          transport    the transport settings sweep (windows, socket buffers, Kestrel limits)
          fuzz         seeded sessions of the reference worker's fuzz format, each checked against its
                       documented outcome; counts per misbehaviour and outcome (exit 1 if any differs)
          pool         8 concurrent sessions on a WorkerPool (4 per worker): workers launched, time, rows/s,
                       workers' peak RSS (3 repetitions unless --reps is given)
          fleet        a WorkerFleet: four workers, one slow, least-loaded against round robin (p50/p99 and
                       the share on the slow worker; --seeds sessions, default 800, --parallel at a time,
                       default 16); then placement cost and memory per worker with 1,000 workers
          load         engine-client load's engine (Engine.Client.Load) against the short echo session:
                       the closed model one session at a time against the hand-written and SDK loops
                       (9 blocks of 5,000 sessions per side in rotating order; --reps blocks, --scale
                       sessions), with engine CPU and allocations per session; then the open model's
                       achieved rate at 50 and 200 sessions/s
          phases       where a short session's time goes (Init, the echoed batch, FinishResponse, close):
                       the SDK, the hand-written loop, and the hand-written loop with the next read
                       started before it writes (issued; awaited; read by a loop of its own), alternating
                       session by session; --reps rounds (default 5) of --scale x 5,000 sessions each;
                       --blocks runs each client's sessions in a block of their own, as load does
          worker-memory  the reference worker's RSS under many concurrent 1 MiB echo streams
          load-memory  the load tester's own memory over a long open-model run (the short echo session at
                       --rate, default 200/s, for --minutes, default 10): working set, GC heap, gen2
                       collections and allocated bytes at minute 1 and the last minute
          micro        BenchmarkDotNet hot paths; the remaining arguments go to BenchmarkDotNet
                       (for example: micro --filter '*Envelope*')

        options:
          --reps <n>             repetitions per measurement (default 20)
          --quick                half the data per run, 3 repetitions, 1 GiB soak: a smoke run
          --scale <x>            multiply the data per run
          --transports <list>    uds,tcp (default both)
          --sizes <list>         batch sizes, e.g. 1k,64k,1m,4m (default)
          --soak-bytes <size>    data through the one session (default 4g)
          --soak-sizes <list>    batch sizes of the one-session run (default 1m,4m)
          --soak-client <c>      soak mode only: sdk (default), pooled (SDK, pooled output) or hand
          --skip-throughput, --skip-churn, --skip-soak
          --side <side>          transport sweep: client, worker or all settings (default all)
          --seeds <n>            fuzz: seeds to run (default 5000)
          --first-seed <n>       fuzz: the first seed (default 0)
          --parallel <n>         fuzz: sessions at a time (default 8)
          --streams <n>          worker-memory: concurrent streams (default 64)
          --connections <n>      worker-memory: HTTP/2 connections the streams share (default 64)
          --read-delay-ms <n>    worker-memory: pause after reading each output batch (default 0)
          --seconds <n>          worker-memory: how long each stream sends (default 20)
          --worker-arg <flag>    worker-memory: a reference worker flag (repeatable; value as --flag=value)
          --worker-env <N=V>     worker-memory, load, phases: an environment variable of the worker
                                 (repeatable)
          --minutes <n>          load-memory: minutes of the run (default 10)
          --rate <r>             load-memory: sessions per second (default 200)
          --pin                  load: pin the engine to CPU 0 and the worker to CPU 1 (taskset; needs 2 CPUs)
          --only <side>          load: run one side alone, every block (hand-written, SDK or load)
          --against <worker>     load, phases: reference (default) or native (the gRPC C++ echo worker;
                                 builds Native/ as the native mode does)
          --blocks               phases: each client's sessions in a block of their own
          --hand-delay-us <us>   phases: busy-wait this long in the hand-written session between its
                                 InitResponse and its batch's write (default 0)
          --out <dir>            result directory (default artifacts/bench under the repository)
        """;

    public static bool TryParse(IReadOnlyList<string> args, [NotNullWhen(true)] out BenchOptions? options, out string? error)
    {
        options = new BenchOptions();
        error = null;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string Value()
            {
                if (i + 1 >= args.Count)
                {
                    throw new FormatException($"{arg} needs a value.");
                }

                return args[++i];
            }

            try
            {
                options = arg switch
                {
                    "--reps" => options with { Repetitions = int.Parse(Value(), CultureInfo.InvariantCulture) },
                    "--quick" => options with { Scale = 0.5, Repetitions = 3, SoakBytes = 1L << 30 },
                    "--scale" => options with { Scale = double.Parse(Value(), CultureInfo.InvariantCulture) },
                    "--transports" => options with { Transports = Value().Split(',').Select(ParseTransport).ToArray() },
                    "--sizes" => options with { BatchSizes = Value().Split(',').Select(Format.ParseSize).ToArray() },
                    "--soak-bytes" => options with { SoakBytes = Format.ParseBytes(Value()) },
                    "--soak-sizes" => options with { SoakBatchSizes = Value().Split(',').Select(Format.ParseSize).ToArray() },
                    "--skip-throughput" => options with { SkipThroughput = true },
                    "--skip-churn" => options with { SkipChurn = true },
                    "--skip-soak" => options with { SkipSoak = true },
                    "--pin" => options with { Pin = true },
                    "--only" => options with { LoadSide = Value() switch { var side and ("hand-written" or "SDK" or "load") => side, var other => throw new FormatException($"--only takes hand-written, SDK or load, not '{other}'.") } },
                    "--out" => options with { OutputDirectory = Value() },
                    "--against" => options with { AgainstNative = Value() switch { "native" => true, "reference" => false, var other => throw new FormatException($"--against takes reference or native, not '{other}'.") } },
                    "--blocks" => options with { PhaseBlocks = true },
                    "--hand-delay-us" => options with { HandDelay = TimeSpan.FromMicroseconds(double.Parse(Value(), CultureInfo.InvariantCulture)) },
                    "--soak-client" => options with { SoakClient = Value() switch { "sdk" => Variant.Sdk, "pooled" => Variant.SdkPooled, "hand" => Variant.HandSdkTransport, var other => throw new FormatException($"--soak-client takes sdk, pooled or hand, not '{other}'.") } },
                    "--side" => options with { SweepSide = ParseSide(Value()) },
                    "--seeds" => options with { FuzzSeeds = int.Parse(Value(), CultureInfo.InvariantCulture) },
                    "--first-seed" => options with { FuzzFirstSeed = int.Parse(Value(), CultureInfo.InvariantCulture) },
                    "--parallel" => options with { FuzzParallelism = int.Parse(Value(), CultureInfo.InvariantCulture) },
                    "--streams" => options with { MemoryStreams = int.Parse(Value(), CultureInfo.InvariantCulture) },
                    "--connections" => options with { MemoryConnections = int.Parse(Value(), CultureInfo.InvariantCulture) },
                    "--read-delay-ms" => options with { MemoryReadDelay = TimeSpan.FromMilliseconds(double.Parse(Value(), CultureInfo.InvariantCulture)) },
                    "--seconds" => options with { MemoryDuration = TimeSpan.FromSeconds(double.Parse(Value(), CultureInfo.InvariantCulture)) },
                    "--minutes" => options with { LoadMinutes = int.Parse(Value(), CultureInfo.InvariantCulture) },
                    "--rate" => options with { LoadRate = double.Parse(Value(), CultureInfo.InvariantCulture) },
                    "--worker-arg" => options with { WorkerArguments = [.. options.WorkerArguments, Value()] },
                    "--worker-env" => options with { WorkerEnvironment = WithVariable(options.WorkerEnvironment, Value()) },
                    _ => throw new FormatException($"unknown option '{arg}'."),
                };
            }
            catch (FormatException ex)
            {
                error = ex.Message;
                options = null;
                return false;
            }
        }

        if (options.HandDelay < TimeSpan.Zero || options.HandDelay > TimeSpan.FromSeconds(1))
        {
            error = "--hand-delay-us must be between 0 and 1,000,000.";
            options = null;
            return false;
        }

        if (options.Repetitions < 1)
        {
            error = "--reps must be at least 1.";
            options = null;
            return false;
        }

        if (options.LoadMinutes < 1 || !(options.LoadRate > 0))
        {
            error = "--minutes must be at least 1 and --rate positive.";
            options = null;
            return false;
        }

        if (options.FuzzSeeds < 1 || options.FuzzFirstSeed < 0 || options.FuzzParallelism < 1)
        {
            error = "--seeds and --parallel must be at least 1, --first-seed at least 0.";
            options = null;
            return false;
        }

        return true;
    }

    private static Dictionary<string, string> WithVariable(IReadOnlyDictionary<string, string> variables, string text)
    {
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        if (equals < 1)
        {
            throw new FormatException($"--worker-env takes NAME=VALUE, not '{text}'.");
        }

        return new Dictionary<string, string>(variables) { [text[..equals]] = text[(equals + 1)..] };
    }

    private static string ParseSide(string text) =>
        text is "client" or "worker" or "all" ? text : throw new FormatException($"--side takes client, worker or all, not '{text}'.");

    private static BenchTransport ParseTransport(string text) => text.Trim().ToLowerInvariant() switch
    {
        "uds" or "unix" => BenchTransport.Uds,
        "tcp" => BenchTransport.Tcp,
        _ => throw new FormatException($"unknown transport '{text}' (uds or tcp)."),
    };
}
