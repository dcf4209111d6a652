using Engine.Client.Cli.Parsing;

namespace Engine.Client.Cli.Operations;

/// <summary>Reading files named on the command line, with one clear line when that fails.</summary>
internal static class InputFiles
{
    /// <summary>
    /// The most bytes the CLI reads whole from one file it is given (a payload, an Arrow input of
    /// <c>load</c>, a scenario, stages, fleet, profile or result file), and the most a generated
    /// input of <c>load</c> may take per session: 256 MiB. All of it is held in memory, so a larger
    /// (or endless, such as <c>/dev/zero</c>) file is refused before any work instead of
    /// exhausting the memory.
    /// </summary>
    public const long ReadLimit = 256L * 1024 * 1024;

    /// <summary>
    /// Reads <paramref name="path"/> whole, at most <paramref name="limit"/> bytes: a regular file
    /// larger than that is refused by its length, before reading; a file whose length is not known
    /// in advance (a device, a pipe) is read to at most <paramref name="limit"/> + 1 bytes, never to its end.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="option">The option (or place) that named it, for the message.</param>
    /// <param name="limit">The most bytes taken; <see cref="ReadLimit"/> by default.</param>
    /// <exception cref="UsageException">The file cannot be read, or holds more than <paramref name="limit"/> bytes.</exception>
    public static byte[] ReadAllBytes(string path, string option, long limit = ReadLimit)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
            var known = stream.CanSeek ? stream.Length : 0;
            if (known > limit)
            {
                throw TooLarge(path, option, known, exact: true, limit);
            }

            return ReadBounded(stream, known, limit) ?? throw TooLarge(path, option, limit + 1, exact: false, limit);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UsageException($"{option} '{path}': {Describe(path, ex)}", ex);
        }
    }

    /// <summary>The bytes of <paramref name="stream"/> to its end, or null when it holds more than <paramref name="limit"/>.</summary>
    /// <remarks>
    /// Read in pieces of at most 1 MiB (or <paramref name="expected"/> + 1 bytes at once when the
    /// length is known), to one byte past the limit: a stream over the limit costs at most the limit
    /// in memory before it is refused, and one within it is copied once into its array.
    /// </remarks>
    internal static byte[]? ReadBounded(Stream stream, long expected, long limit)
    {
        var pieces = new List<byte[]>();
        var pieceSize = (int)Math.Min(limit + 1, Math.Max(expected + 1, 1 << 20));
        long total = 0;
        while (total <= limit)
        {
            var piece = new byte[(int)Math.Min(pieceSize, limit + 1 - total)];
            var filled = 0;
            while (filled < piece.Length && stream.Read(piece, filled, piece.Length - filled) is var read and > 0)
            {
                filled += read;
            }

            if (filled > 0)
            {
                pieces.Add(filled == piece.Length ? piece : piece[..filled]);
                total += filled;
            }

            if (filled < piece.Length)
            {
                break;
            }

            pieceSize = 1 << 20;
        }

        if (total > limit)
        {
            return null;
        }

        if (pieces.Count == 1 && pieces[0].Length == total)
        {
            return pieces[0];
        }

        var bytes = new byte[total];
        var offset = 0;
        foreach (var piece in pieces)
        {
            piece.CopyTo(bytes, offset);
            offset += piece.Length;
        }

        return bytes;
    }

    /// <summary>The usage error of a file over the limit: its size (or, unknown in advance, more than the limit) and the limit.</summary>
    public static UsageException TooLarge(string path, string option, long size, bool exact, long limit) => new(exact
        ? $"{option} '{path}' is {ByteSizes.Format(size)} ({size} bytes), more than the {ByteSizes.Format(limit)} a file may hold here (all of it is held in memory); give a smaller file."
        : $"{option} '{path}' holds more than {ByteSizes.Format(limit)} (it did not end within {limit} bytes), the most a file may hold here (all of it is held in memory); give a smaller file.");

    /// <summary>Refuses a regular file larger than <paramref name="limit"/> by its length, without reading it; a file that cannot be looked at is left to the reader.</summary>
    /// <exception cref="UsageException">The file is larger than <paramref name="limit"/>.</exception>
    public static void CheckSize(string path, string option, long limit = ReadLimit)
    {
        long length;
        try
        {
            var info = new FileInfo(path);
            length = info.Exists ? info.Length : 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return;
        }

        if (length > limit)
        {
            throw TooLarge(path, option, length, exact: true, limit);
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

    /// <summary>Why a directory could not be created, in the user's terms.</summary>
    public static string DescribeDirectory(string path, Exception ex)
    {
        var parent = Path.GetDirectoryName(Path.GetFullPath(path));
        return ex switch
        {
            _ when File.Exists(path) => "a file of that name exists; give a directory path.",
            UnauthorizedAccessException => "permission denied; choose a writable place.",
            IOException when parent is not null && File.Exists(parent) => "its parent is a file, not a directory; choose another path.",
            IOException when parent is not null && !Directory.Exists(parent) => "its parent directory does not exist; create it or choose another path.",
            FileNotFoundException or DirectoryNotFoundException => "the system cannot create a directory there; choose another path.",
            _ => $"the directory cannot be created: {CliApp.OneLine(ex.Message)}",
        };
    }

    /// <summary>
    /// Checks now that <paramref name="path"/> can be written, so that a path that cannot fails
    /// before any work, as a usage error. Leaves no trace: an existing file keeps its content until
    /// the report replaces it (a run that fails later loses nothing), and a new one is removed again.
    /// </summary>
    public static void CheckWritable(string? path, string option)
    {
        if (path is null)
        {
            return;
        }

        // A symbolic link counts as existing even when its target does not (or is a loop).
        var existed = File.Exists(path);
        try
        {
            if (existed)
            {
                using var existing = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 1);
            }
            else
            {
                using var created = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1, FileOptions.DeleteOnClose);
            }
        }
        catch (FileNotFoundException) when (existed && DanglingTarget(path) is { } target)
        {
            // A link whose target does not exist yet: the report creates the target, so the target
            // is what must be writable (checked as itself; the link is left as it is).
            try
            {
                CheckWritable(target, option);
            }
            catch (UsageException ex)
            {
                throw new UsageException($"{option} '{path}' links to '{target}', which cannot be written: {DescribeWrite(target, ex.InnerException ?? ex)}", ex);
            }
        }
        catch (IOException) when (!existed && File.Exists(path) && !Directory.Exists(path))
        {
            // Created by someone else between the two looks: it exists, and the report replaces it.
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            // A symbolic link loop, a socket, a device that refuses writing: found now, before any work.
            throw new UsageException($"{option} '{path}': {DescribeWrite(path, ex)}", ex);
        }
    }

    /// <summary>The final target of the symbolic link <paramref name="path"/> when it does not exist, or null.</summary>
    private static string? DanglingTarget(string path)
    {
        try
        {
            return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true) is { Exists: false } target ? target.FullName : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// Why <paramref name="path"/> could not be written, in the user's terms: a directory is named
    /// as one whatever the exception, a missing or unwritable directory as such, a full disk plainly.
    /// </summary>
    public static string DescribeWrite(string path, Exception ex)
    {
        if (Directory.Exists(path))
        {
            return "this is a directory; give a file path.";
        }

        if (IsDiskFull(ex))
        {
            return "the disk is full (no space left on the device); free some space or choose another place.";
        }

        var parent = ParentOf(path);
        return ex switch
        {
            FileNotFoundException or DirectoryNotFoundException when parent is not null && Directory.Exists(parent) =>
                "its directory cannot be written (the system refuses to create a file there); choose another path.",
            FileNotFoundException or DirectoryNotFoundException => "its directory does not exist; create it or choose another path.",
            UnauthorizedAccessException => "permission denied; choose a writable path.",

            // Linux's errno in the HResult of .NET's IOException: ELOOP (40) and ENXIO (6).
            IOException when OperatingSystem.IsLinux() && ex.HResult == 40 => "the file cannot be written: its symbolic links go round in a loop; give a file path.",
            IOException when OperatingSystem.IsLinux() && ex.HResult == 6 => "the file cannot be written: it is a socket or a device that takes no writing; give a file path.",
            _ => $"the file cannot be written: {CliApp.OneLine(ex.Message)}",
        };
    }

    /// <summary>Whether <paramref name="ex"/> says the disk (or device) has no space left.</summary>
    public static bool IsDiskFull(Exception ex)
    {
        for (var e = (Exception?)ex; e is not null; e = e.InnerException)
        {
            // ENOSPC on Unix; ERROR_HANDLE_DISK_FULL and ERROR_DISK_FULL on Windows.
            if (e is IOException && (e.HResult is 28 or unchecked((int)0x80070027) or unchecked((int)0x80070070)
                || e.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }
        }

        return false;
    }

    private static string? ParentOf(string path)
    {
        try
        {
            return Path.GetDirectoryName(Path.GetFullPath(path));
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return null;
        }
    }
}
