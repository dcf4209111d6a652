namespace Engine.Client.Conformance;

/// <summary>
/// The kit's one clock. The kit measures a real worker in real time (how long it takes to exit, to
/// answer, to stay quiet), so it is the system's; having it in one place keeps wall-clock APIs out
/// of the code (src/BannedSymbols.txt).
/// </summary>
internal static class KitClock
{
    public static TimeProvider Time { get; } = TimeProvider.System;
}
