using System.Runtime.InteropServices;

namespace Engine.Client.Cli.Operations;

/// <summary>
/// Which file a path or a descriptor is: its device and inode numbers (<c>stat(2)</c>, links
/// followed), so that two names of one file (a hard link, <c>/dev/stdout</c> and the file stdout
/// was redirected to) are found to be one. Linux on x64 and Arm64, where <c>struct stat</c> starts
/// with <c>st_dev</c> and <c>st_ino</c> (8 bytes each); elsewhere, or for a path that does not exist
/// (yet), it is unknown and callers compare names.
/// </summary>
internal readonly record struct FileIdentity(ulong Device, ulong Inode)
{
    // Larger than struct stat on every supported platform (144 bytes on x64, 128 on Arm64).
    private const int StatSize = 256;

    private static bool Supported =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>The file <paramref name="path"/> names; null when it does not exist or cannot be read.</summary>
    public static FileIdentity? Of(string path) => Read(buffer => Stat(path, ref buffer[0]));

    /// <summary>The file open on descriptor <paramref name="descriptor"/> (1 is stdout); null when it is closed or unknown.</summary>
    public static FileIdentity? OfDescriptor(int descriptor) => Read(buffer => FStat(descriptor, ref buffer[0]));

    /// <summary>Calls <c>stat</c> or <c>fstat</c> into a buffer and reads its first two fields; null when it fails.</summary>
    private static FileIdentity? Read(Func<byte[], int> stat)
    {
        if (!Supported)
        {
            return null;
        }

        var buffer = new byte[StatSize];
        try
        {
            return stat(buffer) == 0 ? new FileIdentity(BitConverter.ToUInt64(buffer, 0), BitConverter.ToUInt64(buffer, 8)) : null;
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            // A C library without the stat symbols (glibc before 2.33): names are compared.
            return null;
        }
    }

    [DllImport("libc", EntryPoint = "stat", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Stat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, ref byte buffer);

    [DllImport("libc", EntryPoint = "fstat", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int FStat(int descriptor, ref byte buffer);
}
