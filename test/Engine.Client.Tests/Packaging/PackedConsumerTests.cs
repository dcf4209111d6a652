using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using System.Text;
using Engine.Client.Tests.Workers;

namespace Engine.Client.Tests.Packaging;

/// <summary>
/// The getting-started page from packages alone: every package of the repository is packed, the
/// reference worker is installed as the <c>engine-reference-worker</c> tool, and a new console app
/// that restores the repository's packages from the pack folder only (their dependencies from this
/// machine's package cache, offline) runs a session on a pool registered with dependency injection,
/// launched from docs/examples/reference-worker-tool.spec.json, runs a conformance check (from
/// Engine.Client.Conformance) on a worker launched from the same specification, describes a message
/// with Engine.Client.Protocol's helpers, and exits 0.
/// </summary>
[UnsupportedOSPlatform("windows")]
[NonParallelizable]
public sealed class PackedConsumerTests
{
    private static readonly string[] Packages =
    [
        "src/Engine.Client.Protocol/Engine.Client.Protocol.csproj",
        "src/Engine.Client/Engine.Client.csproj",
        "src/Engine.Client.Conformance/Engine.Client.Conformance.csproj",
        "src/Engine.Client.DependencyInjection/Engine.Client.DependencyInjection.csproj",
        "src/Engine.Client.OpenTelemetry/Engine.Client.OpenTelemetry.csproj",
        "src/Engine.Client.HealthChecks/Engine.Client.HealthChecks.csproj",
        "src/Engine.Client.Load/Engine.Client.Load.csproj",
        "src/Engine.Client.Cli/Engine.Client.Cli.csproj",
        "src/Engine.ReferenceWorker/Engine.ReferenceWorker.csproj",
    ];

    private const string Program = """
        using System.Text;
        using Engine.Client;
        using Engine.Client.Conformance;
        using Engine.Client.Protocol;
        using Microsoft.Extensions.DependencyInjection;

        var services = new ServiceCollection();
        services.AddWorkerPool().Configure(o =>
        {
            o.SpecificationPath = args[0];
            o.Pool.Process.SocketDirectory = args[1];
        });
        await using var provider = services.BuildServiceProvider();
        var pool = provider.GetRequiredService<WorkerPool>();

        await using var session = await pool.OpenSessionAsync();
        await session.InitAsync(new SessionInit("p"u8.ToArray(), "echo"));
        var back = new List<string>();
        await foreach (var batch in session.ProcessAsync(Batches()))
        {
            back.Add(Encoding.UTF8.GetString(batch.Span));
        }

        var outcome = await session.CloseAsync();
        Console.WriteLine($"outcome {outcome.Kind}; back {string.Join(",", back)}");

        await using var conformance = await WorkerConformance.LaunchAsync(
            WorkerSpecification.Load(args[0]),
            processOptions: new WorkerProcessOptions { SocketDirectory = args[1] });
        var check = await conformance.RunCheckAsync("C1");
        Console.WriteLine($"conformance {check}");
        Console.WriteLine($"wire {WireText.Describe(UdfRequests.Data("abc"u8.ToArray()))}");
        return outcome.Kind == SessionOutcomeKind.Finished && string.Join(",", back) == "one,two,three" && check.Passed ? 0 : 1;

        static async IAsyncEnumerable<ReadOnlyMemory<byte>> Batches()
        {
            foreach (var item in new[] { "one", "two", "three" })
            {
                await Task.Yield();
                yield return Encoding.UTF8.GetBytes(item);
            }
        }
        """;

    [Test]
    public async Task A_new_console_app_restores_the_packs_installs_the_worker_tool_runs_a_session_and_exits_0()
    {
        using var dir = new TempDir();
        var root = Specs.RepositoryRoot();
        var configuration = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
        var version = string.Create(CultureInfo.InvariantCulture, $"0.1.0-packtest.{DateTime.UtcNow:yyyyMMddHHmmss}{Environment.ProcessId}");
        var packs = Directory.CreateDirectory(dir.File("packs")).FullName;
        var tools = dir.File("tools");

        // Every package, from the outputs the test run built (a prerelease version of its own, so no
        // package cache can hold a stale copy; MinVer, which versions the packages from git tags,
        // takes it as an override).
        foreach (var project in Packages)
        {
            await RunAsync(root, "pack", Path.Combine(root, project), "--no-build", "-c", configuration, "-o", packs, $"-p:MinVerVersionOverride={version}");
        }

        Assert.That(Directory.GetFiles(packs, "*.nupkg").Select(Path.GetFileName), Is.EquivalentTo(new[]
        {
            $"Engine.Client.Protocol.{version}.nupkg",
            $"Engine.Client.{version}.nupkg",
            $"Engine.Client.Conformance.{version}.nupkg",
            $"Engine.Client.DependencyInjection.{version}.nupkg",
            $"Engine.Client.OpenTelemetry.{version}.nupkg",
            $"Engine.Client.HealthChecks.{version}.nupkg",
            $"Engine.Client.Load.{version}.nupkg",
            $"Engine.Client.Cli.{version}.nupkg",
            $"engine-reference-worker.{version}.nupkg",
        }));

        // The repository's packages from the pack folder only; everything else from this machine's
        // package cache, read as a local feed (no network), into a package folder of the app's own.
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } set
            ? set
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var app = Directory.CreateDirectory(dir.File("app")).FullName;
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{dir.File("restored")}" />
              </config>
              <packageSources>
                <clear />
                <add key="packs" value="{packs}" />
                <add key="cache" value="{cache}" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="packs">
                  <package pattern="Engine.Client*" />
                  <package pattern="engine-reference-worker" />
                </packageSource>
                <packageSource key="cache">
                  <package pattern="*" />
                </packageSource>
              </packageSourceMapping>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "app.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Engine.Client.DependencyInjection" Version="{version}" />
                <PackageReference Include="Engine.Client.Conformance" Version="{version}" />
                <PackageReference Include="Microsoft.Extensions.DependencyInjection" Version="10.0.15" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), Program);

        await RunAsync(app, "tool", "install", "engine-reference-worker", "--tool-path", tools, "--version", version, "--configfile", Path.Combine(app, "nuget.config"));
        Assert.That(File.Exists(Path.Combine(tools, "engine-reference-worker")), Is.True, "the tool's command is installed");

        var spec = Path.Combine(app, "worker.spec.json");
        File.Copy(Path.Combine(root, "docs", "examples", "reference-worker-tool.spec.json"), spec);
        var sockets = Directory.CreateDirectory(dir.File("s")).FullName;
        var output = await RunAsync(app, "run", "--", spec, sockets);
        Assert.That(output, Does.Contain("outcome Finished; back one,two,three"));
        Assert.That(output, Does.Contain("conformance C1 Passed"));
        Assert.That(output, Does.Contain("wire DataRequest(3 bytes)"));
        foreach (var package in new[] { "engine.client", "engine.client.protocol", "engine.client.conformance" })
        {
            Assert.That(Directory.GetFiles(Path.Combine(dir.File("restored"), package), "*.nupkg", SearchOption.AllDirectories)
                .Select(Path.GetFileName), Is.EqualTo(new[] { $"{package}.{version}.nupkg" }), $"{package} came from the pack folder");
        }

        async Task<string> RunAsync(string workingDirectory, params string[] arguments)
        {
            var start = new ProcessStartInfo(DotnetHost())
            {
                WorkingDirectory = workingDirectory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            // A clean child: none of the test run's MSBuild settings, the tool on the PATH.
            foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
            {
                start.Environment.Remove(key);
            }

            start.Environment["PATH"] = tools + ":" + Environment.GetEnvironmentVariable("PATH");
            start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            start.Environment["DOTNET_NOLOGO"] = "1";
            start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";

            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();

            // Generous: a restore and a build on a loaded machine.
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(10));
            var text = new StringBuilder().Append(await stdout).Append(await stderr).ToString();
            Assert.That(process.ExitCode, Is.Zero, $"dotnet {string.Join(' ', arguments)} failed:\n{text}");
            return text;
        }
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}
