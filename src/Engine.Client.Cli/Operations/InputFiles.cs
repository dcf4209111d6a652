using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli.Operations;

/// <summary>Reading files named on the command line, with one clear line when that fails.</summary>
internal static class InputFiles
{
    public static byte[] ReadAllBytes(string path, string option)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UsageException($"{option} '{path}': {Describe(path, ex)}", ex);
        }
    }

    public static FileStream OpenRead(string path, string option)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16, useAsync: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UsageException($"{option} '{path}': {Describe(path, ex)}", ex);
        }
    }

    public static FileStream Create(string path, string option)
    {
        try
        {
            return new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 16, useAsync: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UsageException($"{option} '{path}': {DescribeWrite(path, ex)}", ex);
        }
    }

    public static string Describe(string path, Exception ex) => ex switch
    {
        FileNotFoundException => "the file does not exist; check the path.",
        DirectoryNotFoundException => "its directory does not exist; check the path.",
        UnauthorizedAccessException when Directory.Exists(path) => "this is a directory; give a file.",
        UnauthorizedAccessException => "permission denied; make the file readable.",
        _ => $"the file cannot be read: {CliApp.OneLine(ex.Message)}",
    };

    private static string DescribeWrite(string path, Exception ex) => ex switch
    {
        DirectoryNotFoundException => "its directory does not exist; create it or choose another path.",
        UnauthorizedAccessException when Directory.Exists(path) => "this is a directory; give a file path.",
        UnauthorizedAccessException => "permission denied; choose a writable path.",
        _ => $"the file cannot be written: {CliApp.OneLine(ex.Message)}",
    };
}
