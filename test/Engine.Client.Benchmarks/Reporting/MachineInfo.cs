using System.Globalization;
using System.Runtime.InteropServices;

namespace Engine.Client.Benchmarks.Reporting;

/// <summary>Where a run happened, and how busy the machine was.</summary>
public sealed record MachineInfo
{
    public required int Cores { get; init; }

    public required string Cpu { get; init; }

    public required double MemoryGiB { get; init; }

    public required string Os { get; init; }

    public required string Runtime { get; init; }

    public required string DateUtc { get; init; }

    /// <summary>The 1-minute load average when the run started and ended (other work on the machine shows here).</summary>
    public required string LoadAverage { get; set; }

    public static MachineInfo Capture() => new()
    {
        Cores = Environment.ProcessorCount,
        Cpu = CpuModel(),
        MemoryGiB = Math.Round(MemTotalBytes() / (double)(1L << 30), 1),
        Os = RuntimeInformation.OSDescription,
        Runtime = RuntimeInformation.FrameworkDescription,
        DateUtc = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
        LoadAverage = LoadAverage1(),
    };

    public static string LoadAverage1()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "?";
        }
    }

    private static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? RuntimeInformation.ProcessArchitecture.ToString() : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
    }

    private static long MemTotalBytes()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            return long.Parse(line["MemTotal:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or FormatException)
        {
            return 0;
        }
    }
}
