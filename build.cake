// Cake build script: dotnet tool restore && dotnet cake --target=<Task>
// Tasks: Restore, Build, Test (default), Pack, Demo, Bench, Conformance.

var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var benchArgs = Argument("bench-args", "e2e");
var solution = "./Engine.Client.sln";
var artifacts = Directory("./artifacts");

Task("Clean")
    .Does(() =>
{
    CleanDirectory(artifacts);
});

Task("Restore")
    .Does(() =>
{
    DotNetRestore(solution);
});

Task("Build")
    .IsDependentOn("Restore")
    .Does(() =>
{
    DotNetBuild(solution, new DotNetBuildSettings
    {
        Configuration = configuration,
        NoRestore = true,
    });
});

Task("Test")
    .IsDependentOn("Build")
    .Does(() =>
{
    DotNetTest(solution, new DotNetTestSettings
    {
        Configuration = configuration,
        NoBuild = true,
        NoRestore = true,
        Loggers = new[] { "console;verbosity=normal", "trx" },
        ResultsDirectory = artifacts + Directory("test-results"),
    });
});

Task("Pack")
    .IsDependentOn("Build")
    .Does(() =>
{
    DotNetPack(solution, new DotNetPackSettings
    {
        Configuration = configuration,
        NoBuild = true,
        NoRestore = true,
        OutputDirectory = artifacts + Directory("packages"),
    });
});

Task("Demo")
    .IsDependentOn("Build")
    .Does(() =>
{
    DotNetRun("./src/Engine.Client.Cli/Engine.Client.Cli.csproj", new ProcessArgumentBuilder().Append("demo"), new DotNetRunSettings
    {
        Configuration = configuration,
        NoBuild = true,
        NoRestore = true,
    });
});

// dotnet cake --target=Bench                              SDK vs hand-written, churn, 4 GiB run
// dotnet cake --target=Bench --bench-args="micro"         BenchmarkDotNet hot paths
// dotnet cake --target=Bench --bench-args="e2e --quick"   a smoke run
// dotnet cake --target=Bench --bench-args="native --reps 5"  against the native C++ echo client and worker
// Results land in artifacts/bench (JSON and Markdown); see docs/performance.md.
Task("Bench")
    .Description("Runs the benchmark harness; --bench-args are passed to it.")
    .Does(() =>
{
    if (benchArgs.TrimStart().StartsWith("native"))
    {
        InstallNativeToolchain();
    }

    DotNetRun("./test/Engine.Client.Benchmarks/Engine.Client.Benchmarks.csproj",
        ProcessArgumentBuilder.FromString(benchArgs),
        new DotNetRunSettings { Configuration = "Release" });
});

// The native mode builds a gRPC C++ echo worker and client (test/Engine.Client.Benchmarks/Native):
// Debian's gRPC C++ and protobuf compilers, installed here when missing (never by the test suite,
// which does not need them).
void InstallNativeToolchain()
{
    var missing = new[] { "protoc", "grpc_cpp_plugin", "g++", "pkg-config" }
        .Where(tool => StartProcess("sh", new ProcessSettings { Arguments = $"-c \"command -v {tool}\"", RedirectStandardOutput = true }) != 0)
        .ToList();
    if (StartProcess("sh", new ProcessSettings { Arguments = "-c \"pkg-config --exists grpc++ protobuf\"" }) != 0)
    {
        missing.Add("libgrpc++-dev");
    }

    if (missing.Count == 0)
    {
        return;
    }

    Information($"Installing the native toolchain (missing: {string.Join(", ", missing)})");
    var sudo = StartProcess("id", new ProcessSettings { Arguments = "-u", RedirectStandardOutput = true }, out var uid) == 0 && uid.FirstOrDefault() == "0" ? "" : "sudo ";
    var install = $"{sudo}apt-get update && {sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y libgrpc++-dev protobuf-compiler-grpc g++ pkg-config";
    if (StartProcess("sh", new ProcessSettings { Arguments = $"-c \"{install}\"" }) != 0)
    {
        throw new Exception("Installing libgrpc++-dev and protobuf-compiler-grpc failed; install them by hand (Debian or Ubuntu).");
    }
}

Task("Conformance")
    .IsDependentOn("Build")
    .Does(() =>
{
    DotNetTest(solution, new DotNetTestSettings
    {
        Configuration = configuration,
        NoBuild = true,
        NoRestore = true,
        Filter = "FullyQualifiedName~Conformance|FullyQualifiedName~SessionScenarioTests|FullyQualifiedName~SessionStateTests|FullyQualifiedName~WorkerPoolTests",
    });
});

RunTarget(target);
