using System.Runtime.InteropServices;

namespace Engine.ReferenceWorker.Hosting;

/// <summary>The few libc calls the worker needs that .NET does not expose.</summary>
internal static partial class Libc
{
    /// <summary>The parent's process id; it changes when the parent dies and the worker is re-parented.</summary>
    [LibraryImport("libc", EntryPoint = "getppid")]
    internal static partial int GetParentProcessId();

    /// <summary>
    /// Ends the process at once with <paramref name="status"/>: no finalizers, no host shutdown,
    /// exactly like a crash as seen from outside.
    /// </summary>
    [LibraryImport("libc", EntryPoint = "_exit")]
    internal static partial void ExitImmediately(int status);
}
