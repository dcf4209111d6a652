using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Engine.Client.Tests.Infrastructure;

/// <summary>
/// An <see cref="ILoggerProvider"/> (and factory) that keeps every message, and lets a test await
/// the first message matching a condition instead of sleeping for it.
/// </summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();
    private readonly Lock _gate = new();
    private readonly List<(Func<LogEntry, bool> Match, TaskCompletionSource<LogEntry> Found)> _waiters = [];

    public LogCapture()
    {
        Factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(this));
    }

    /// <summary>A factory logging (at every level) into this capture.</summary>
    public ILoggerFactory Factory { get; }

    public IReadOnlyList<LogEntry> Entries => [.. _entries];

    /// <summary>Completes with the first message (past or future) that matches.</summary>
    public Task<LogEntry> WaitFor(Func<LogEntry, bool> match)
    {
        var found = new TaskCompletionSource<LogEntry>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_entries.FirstOrDefault(match) is { } existing)
            {
                found.TrySetResult(existing);
            }
            else
            {
                _waiters.Add((match, found));
            }
        }

        return found.Task;
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(LogEntry entry)
    {
        lock (_gate)
        {
            _entries.Enqueue(entry);
            foreach (var waiter in _waiters.Where(w => w.Match(entry)).ToList())
            {
                _waiters.Remove(waiter);
                waiter.Found.TrySetResult(entry);
            }
        }
    }

    internal sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception, DateTime At);

    private sealed class Logger(LogCapture capture, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            capture.Add(new LogEntry(category, logLevel, eventId, formatter(state, exception), exception, DateTime.UtcNow));
    }
}
