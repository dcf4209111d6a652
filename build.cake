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
// Results land in artifacts/bench (JSON and Markdown); see docs/performance.md.
Task("Bench")
    .Description("Runs the benchmark harness; --bench-args are passed to it.")
    .Does(() =>
{
    DotNetRun("./test/Engine.Client.Benchmarks/Engine.Client.Benchmarks.csproj",
        ProcessArgumentBuilder.FromString(benchArgs),
        new DotNetRunSettings { Configuration = "Release" });
});

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
