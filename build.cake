// Cake build script: dotnet tool restore && dotnet cake --target=<Task>
// Tasks: Restore, Build, Test (default), Pack, Demo, Bench, Conformance.

var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
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
