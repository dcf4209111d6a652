using System.Globalization;
using System.Text;
using System.Threading.Channels;
using Engine.Client.Tests.Infrastructure;
using Grpc.Net.Client.Balancer;

namespace Engine.Client.Tests.Fleets;

/// <summary>Helpers of the fleet tests: echo sessions, sessions held committed, keys that map to a given worker.</summary>
internal static class FleetTestSupport
{
    public static SessionOptions Huge => TaskTimeouts.HugeTimeouts();

    /// <summary>Options for tests: huge session timeouts, 128 MiB messages, and <paramref name="adjust"/>.</summary>
    public static WorkerFleetOptions Options(Action<WorkerFleetOptions>? adjust = null)
    {
        var options = new WorkerFleetOptions
        {
            Connection = { MaxSendMessageSize = 128 * 1024 * 1024 },
            Session = Huge,
            HeartbeatInterval = TimeSpan.FromMinutes(5),
            RandomSeed = 42,
        };
        adjust?.Invoke(options);
        return options;
    }

    public static async IAsyncEnumerable<ReadOnlyMemory<byte>> Items(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return Encoding.UTF8.GetBytes("batch-" + i.ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Init, two batches through, Finish: the outcome.</summary>
    public static async Task<SessionOutcome> EchoAsync(WorkerSession session, int batches = 2)
    {
        await using (session)
        {
            await session.InitAsync(new SessionInit("x"u8.ToArray(), "echo")).DefaultTimeout();
            var output = await session.ProcessAsync(Items(batches)).ToListAsync();
            Assert.That(output, Has.Count.EqualTo(batches));
            return await session.CloseAsync().DefaultTimeout();
        }
    }

    /// <summary>A key whose home on the fleet's ring is <paramref name="address"/>.</summary>
    public static string KeyFor(WorkerFleet fleet, string address, string prefix = "key")
    {
        for (var i = 0; i < 100_000; i++)
        {
            var key = prefix + "-" + i.ToString(CultureInfo.InvariantCulture);
            if (fleet.HomeOf(key) == address)
            {
                return key;
            }
        }

        throw new InvalidOperationException($"No key maps to {address}.");
    }

    /// <summary>Waits for a <see cref="WorkerFleet.WorkerChanged"/> snapshot that matches.</summary>
    public static Task<FleetWorkerInfo> WaitForWorker(WorkerFleet fleet, Func<FleetWorkerInfo, bool> match)
    {
        var seen = new TaskCompletionSource<FleetWorkerInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        fleet.WorkerChanged += (_, info) =>
        {
            if (match(info))
            {
                seen.TrySetResult(info);
            }
        };
        if (fleet.Workers.FirstOrDefault(match) is { } already)
        {
            seen.TrySetResult(already);
        }

        return seen.Task;
    }
}

/// <summary>A session held open in its data phase: committed (one batch went and came back), more input when the test says.</summary>
internal sealed class HeldSession : IAsyncDisposable
{
    private readonly Channel<ReadOnlyMemory<byte>> _input = Channel.CreateUnbounded<ReadOnlyMemory<byte>>();
    private IAsyncEnumerator<ReadOnlyMemory<byte>>? _output;

    private HeldSession(WorkerSession session) => Session = session;

    public WorkerSession Session { get; }

    public static async Task<HeldSession> StartAsync(WorkerSession session)
    {
        var held = new HeldSession(session);
        await session.InitAsync(new SessionInit("x"u8.ToArray(), "echo")).DefaultTimeout();
        held._output = session.ProcessAsync(held._input.Reader.ReadAllAsync()).GetAsyncEnumerator();
        held._input.Writer.TryWrite("first"u8.ToArray());
        Assert.That(await held._output.MoveNextAsync().AsTask().DefaultTimeout(), Is.True);
        return held;
    }

    /// <summary>One more batch through and back, then Finish; the outcome.</summary>
    public async Task<SessionOutcome> FinishAsync()
    {
        _input.Writer.TryWrite("last"u8.ToArray());
        _input.Writer.TryComplete();
        while (await _output!.MoveNextAsync().AsTask().DefaultTimeout())
        {
        }

        return await Session.CloseAsync().DefaultTimeout();
    }

    /// <summary>Reads until the session fails; the exception.</summary>
    public async Task<Exception> FailureAsync()
    {
        try
        {
            _input.Writer.TryWrite("more"u8.ToArray());
            while (await _output!.MoveNextAsync().AsTask().DefaultTimeout())
            {
            }
        }
        catch (Exception ex) when (ex is WorkerException or OperationCanceledException)
        {
            return ex;
        }

        throw new AssertionException("The session did not fail.");
    }

    public async ValueTask DisposeAsync()
    {
        _input.Writer.TryComplete();
        await Session.CloseAsync().DefaultTimeout();
        if (_output is not null)
        {
            try
            {
                await _output.DisposeAsync();
            }
            catch (Exception ex) when (ex is WorkerException or OperationCanceledException)
            {
            }
        }
    }
}

/// <summary>Discovery the test drives: a grpc-dotnet resolver whose addresses the test sets.</summary>
internal sealed class ListResolver : Resolver
{
    private readonly Lock _gate = new();
    private Action<ResolverResult>? _listener;
    private List<BalancerAddress> _addresses = [];

    public int Refreshes { get; private set; }

    public override void Start(Action<ResolverResult> listener)
    {
        lock (_gate)
        {
            _listener = listener;
        }

        Publish();
    }

    public override void Refresh()
    {
        lock (_gate)
        {
            Refreshes++;
        }
    }

    public void Set(params string[] addresses)
    {
        lock (_gate)
        {
            _addresses = [.. addresses.Select(a =>
            {
                var address = new BalancerAddress("unused", 1);
                address.Attributes.Set(WorkerFleet.AddressAttribute, a);
                return address;
            })];
        }

        Publish();
    }

    private void Publish()
    {
        Action<ResolverResult>? listener;
        List<BalancerAddress> addresses;
        lock (_gate)
        {
            listener = _listener;
            addresses = _addresses;
        }

        listener?.Invoke(ResolverResult.ForResult(addresses));
    }
}
