using System.Runtime.InteropServices;

namespace Engine.Client.Workers;

/// <summary>The few libc calls .NET does not expose: sending a chosen signal, and creating a private directory atomically.</summary>
internal static class NativeMethods
{
    public const int SIGTERM = 15;
    public const int SIGKILL = 9;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SysKill(int pid, int signal);

    [DllImport("libc", EntryPoint = "mkdtemp", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern IntPtr SysMkdtemp([In, Out] byte[] template);

    /// <summary>Sends <paramref name="signal"/> to a process (<paramref name="pid"/> &gt; 0) or a process group (<paramref name="pid"/> &lt; 0). Returns 0, or the errno.</summary>
    public static int Kill(int pid, int signal) =>
        SysKill(pid, signal) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>
    /// Creates a fresh directory from <paramref name="template"/> (ending in <c>XXXXXX</c>) with
    /// mode 0700, failing if it exists: the name is never one someone else prepared.
    /// </summary>
    /// <exception cref="IOException">The directory cannot be created; the message carries the OS error.</exception>
    public static string MakePrivateDirectory(string template)
    {
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(template) + 1];
        System.Text.Encoding.UTF8.GetBytes(template, bytes);
        if (SysMkdtemp(bytes) == IntPtr.Zero)
        {
            var error = Marshal.GetLastPInvokeError();
            throw new IOException($"cannot create a directory from '{template}': {Marshal.GetPInvokeErrorMessage(error)} (errno {error}).");
        }

        return System.Text.Encoding.UTF8.GetString(bytes, 0, bytes.Length - 1);
    }
}
