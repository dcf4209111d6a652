namespace Engine.Client;

/// <summary>
/// One attempt of a fleet session on one worker: where it went and, when it was abandoned for
/// another worker, why.
/// </summary>
/// <param name="Worker">The worker's address.</param>
/// <param name="Failure">
/// Why the attempt was abandoned before any data left (for example <c>gRPC status Unavailable:
/// connection refused</c>); <see langword="null"/> for the attempt the session ran on.
/// </param>
public sealed record SessionAttempt(string Worker, string? Failure);
