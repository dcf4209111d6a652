using System.Runtime.InteropServices;

namespace Engine.Client.Cli.Hosting;

/// <summary>
/// SIGINT (Ctrl+C) and SIGTERM. The first one cancels <see cref="Interrupt"/>: the command stops
/// cleanly (a session sends Cancel and awaits its acknowledgement briefly; <c>workers start</c>
/// stops its workers). The second one cancels <see cref="Force"/>: waits are cut short. A third
/// one terminates the process at once.
/// </summary>
internal sealed class InterruptSignals : IDisposable
{
    private readonly CancellationTokenSource _interrupt = new();
    private readonly CancellationTokenSource _force = new();
    private readonly List<PosixSignalRegistration> _registrations = [];
    private int _count;

    private InterruptSignals()
    {
    }

    /// <summary>Cancelled by the first SIGINT or SIGTERM.</summary>
    public CancellationToken Interrupt => _interrupt.Token;

    /// <summary>Cancelled by the second SIGINT or SIGTERM.</summary>
    public CancellationToken Force => _force.Token;

    /// <summary>Signals that are never raised (for in-process use and tests).</summary>
    public static InterruptSignals None() => new();

    /// <summary>Handles SIGINT and SIGTERM for this process until disposed.</summary>
    public static InterruptSignals Register()
    {
        var signals = new InterruptSignals();
        if (!OperatingSystem.IsWindows())
        {
            signals._registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, signals.Handle));
            signals._registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, signals.Handle));
        }
        else
        {
            signals._registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, signals.Handle));
        }

        return signals;
    }

    /// <summary>Raises the interruption from code (as if a signal arrived).</summary>
    public void Raise()
    {
        switch (Interlocked.Increment(ref _count))
        {
            case 1:
                _interrupt.Cancel();
                break;
            case 2:
                _force.Cancel();
                break;
        }
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }

        _interrupt.Dispose();
        _force.Dispose();
    }

    private void Handle(PosixSignalContext context)
    {
        if (Volatile.Read(ref _count) >= 2)
        {
            // Third signal: let the default action terminate the process.
            return;
        }

        context.Cancel = true;
        Raise();
    }
}
