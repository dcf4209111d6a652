namespace Engine.ReferenceWorker.Execution;

/// <summary>The per-stream knobs, from the command line.</summary>
/// <param name="TerminatorGrace">How long a stream waits after its terminator for the engine to half-close.</param>
/// <param name="OutputBufferBytes">Output a stream may queue before its UDF waits for the engine to read.</param>
/// <param name="BatchDelay">A delay before each data batch is processed (<c>--batch-delay-ms</c>): a slow worker, for placement measurements.</param>
internal sealed record ExecuteSettings(TimeSpan TerminatorGrace, long OutputBufferBytes, TimeSpan BatchDelay = default);
