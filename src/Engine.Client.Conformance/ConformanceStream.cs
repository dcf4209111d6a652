using System.Globalization;
using Engine.Client.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Engine.Client.Conformance;

/// <summary>
/// One raw Execute call for a check: sends exactly what the check says (including sequences a
/// correct engine never sends), reads with a timeout on every wait, and keeps a transcript of
/// what arrived for the failure message.
/// </summary>
internal sealed class ConformanceStream : IDisposable
{
    private readonly AsyncDuplexStreamingCall<UdfRequest, UdfResponse> _call;
    private readonly CancellationTokenSource _abort;
    private readonly TimeSpan _timeout;
    private readonly List<string> _received = [];
    private readonly List<string> _sent = [];
    private string? _ending;
    private readonly Lock _transcriptLock = new();

    private ConformanceStream(AsyncDuplexStreamingCall<UdfRequest, UdfResponse> call, CancellationTokenSource abort, TimeSpan timeout)
    {
        _call = call;
        _abort = abort;
        _timeout = timeout;
    }

    /// <summary>
    /// Opens an Execute call through <see cref="WireMethods.Execute"/>, whose marshaller turns bytes
    /// that are not a UdfResponse into a named protocol violation instead of a gRPC status.
    /// </summary>
    public static ConformanceStream Open(CallInvoker invoker, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            var call = invoker.AsyncDuplexStreamingCall(WireMethods.Execute, null, new CallOptions(cancellationToken: abort.Token));
            return new ConformanceStream(call, abort, timeout);
        }
        catch
        {
            abort.Dispose();
            throw;
        }
    }

    /// <summary>What arrived so far, for failure messages.</summary>
    public string Transcript
    {
        get
        {
            lock (_transcriptLock)
            {
                return _received.Count == 0 ? "nothing" : string.Join(", ", _received);
            }
        }
    }

    public async Task SendAsync(UdfRequest request, string what)
    {
        lock (_transcriptLock)
        {
            _sent.Add(WireText.Describe(request));
        }

        try
        {
            await _call.RequestStream.WriteAsync(request).WaitAsync(_timeout, KitClock.Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw Fail($"sending {what} did not complete within {Seconds(_timeout)} (the worker is not reading)");
        }
        catch (Exception ex) when (ex is RpcException or InvalidOperationException or IOException)
        {
            throw Fail($"sending {what} failed: {DescribeError(ex)}");
        }
    }

    public Task SendInitAsync(Init init) => SendAsync(UdfRequests.Init(init), "Init");

    public Task SendDataAsync(ReadOnlyMemory<byte> batch) => SendAsync(UdfRequests.Data(batch), "DataRequest");

    public Task SendFinishAsync() => SendAsync(UdfRequests.Finish(), "Finish");

    public Task SendCancelAsync() => SendAsync(UdfRequests.Cancel("engine-client conformance check"), "Cancel");

    public Task SendChunkAsync(ReadOnlyMemory<byte> data, bool last) => SendAsync(UdfRequests.Chunk(data, last), "PayloadChunk");

    /// <summary>The next response, or <see langword="null"/> when the worker ended the call with status OK.</summary>
    public Task<UdfResponse?> ReadAsync(string expectation) => ReadAsync(expectation, _timeout);

    /// <summary>The next response within <paramref name="within"/>, or <see langword="null"/> when the worker ended the call with status OK.</summary>
    public async Task<UdfResponse?> ReadAsync(string expectation, TimeSpan within)
    {
        bool more;
        try
        {
            more = await _call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(within, KitClock.Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw Fail($"expected {expectation}, but nothing arrived within {Seconds(within)}");
        }
        catch (Exception ex) when (ex is RpcException or IOException or InvalidOperationException or HttpRequestException)
        {
            Record("the call failed: " + DescribeError(ex));
            throw Fail($"expected {expectation}, but the call failed with {DescribeError(ex)}");
        }

        if (!more)
        {
            Record("the end of the call (status OK)");
            return null;
        }

        var response = _call.ResponseStream.Current;
        if (WireMethods.ParseErrorOf(response) is { } parseError)
        {
            lock (_transcriptLock)
            {
                _received.Add($"bytes that are not a valid UdfResponse message ({parseError})");
            }

            throw Fail($"expected {expectation}, but the worker sent bytes that are not a valid UdfResponse message: a protocol violation");
        }

        lock (_transcriptLock)
        {
            _received.Add(WireText.Describe(response));
        }

        return response;
    }

    /// <summary>Adds what the kit did besides sending a message (a quiet span) to the sent list of a failure.</summary>
    public void Note(string what)
    {
        lock (_transcriptLock)
        {
            _sent.Add(what);
        }
    }

    /// <summary>How the call ended (its status), for the received list of a failure; not part of <see cref="Transcript"/>.</summary>
    private void Record(string what)
    {
        lock (_transcriptLock)
        {
            _ending = what;
        }
    }

    public async Task<UdfResponse> ExpectAsync(string expectation)
    {
        var response = await ReadAsync(expectation).ConfigureAwait(false);
        return response ?? throw Fail($"expected {expectation}, but the worker ended the call (status OK) without it");
    }

    public async Task<InitResponse> ExpectInitAsync()
    {
        const string Expected = "InitResponse without error";
        var response = await ExpectAsync(Expected).ConfigureAwait(false);
        if (response.Control?.ControlCase != UdfControlResponse.ControlOneofCase.Init)
        {
            throw Fail($"expected {Expected}, got {WireText.Describe(response)}");
        }

        if (response.Control.Init.Error is { } error)
        {
            throw Fail($"expected {Expected}, got InitResponse carrying {WireText.Describe(error)}");
        }

        return response.Control.Init;
    }

    /// <summary>An InitResponse with an error of <paramref name="kind"/> (any kind when <see langword="null"/>).</summary>
    public async Task<ExecutionError> ExpectInitErrorAsync(ExecutionError.KindOneofCase? kind)
    {
        var expected = kind is null ? "InitResponse with an error" : $"InitResponse with error {WireText.KindName(kind.Value)}";
        var response = await ExpectAsync(expected).ConfigureAwait(false);
        if (response.Control?.ControlCase != UdfControlResponse.ControlOneofCase.Init || response.Control.Init.Error is not { } error)
        {
            throw Fail($"expected {expected}, got {WireText.Describe(response)}");
        }

        if (kind is not null && error.KindCase != kind)
        {
            throw Fail($"expected {expected}, got InitResponse with {WireText.Describe(error)}");
        }

        return error;
    }

    public async Task<ByteString> ExpectDataAsync(string what)
    {
        var expected = "DataResponse " + what;
        var response = await ExpectAsync(expected).ConfigureAwait(false);
        if (response.ResponseCase != UdfResponse.ResponseOneofCase.Data)
        {
            throw Fail($"expected {expected}, got {WireText.Describe(response)}");
        }

        return response.Data.Data;
    }

    /// <summary>An ErrorResponse with an error of <paramref name="kind"/>.</summary>
    public async Task<ExecutionError> ExpectErrorAsync(ExecutionError.KindOneofCase kind)
    {
        var expected = $"ErrorResponse({WireText.KindName(kind)})";
        var response = await ExpectAsync(expected).ConfigureAwait(false);
        if (response.Control?.ControlCase != UdfControlResponse.ControlOneofCase.Error)
        {
            throw Fail($"expected {expected}, got {WireText.Describe(response)}");
        }

        var error = response.Control.Error.Error;
        if (error?.KindCase != kind)
        {
            throw Fail($"expected {expected}, got ErrorResponse carrying {WireText.Describe(error)}");
        }

        return error;
    }

    public async Task<FinishResponse> ExpectFinishAsync()
    {
        const string Expected = "FinishResponse without error";
        var response = await ExpectAsync(Expected).ConfigureAwait(false);
        if (response.Control?.ControlCase != UdfControlResponse.ControlOneofCase.Finish)
        {
            throw Fail($"expected {Expected}, got {WireText.Describe(response)}");
        }

        if (response.Control.Finish.Error is { } error)
        {
            throw Fail($"expected {Expected}, got FinishResponse carrying {WireText.Describe(error)}");
        }

        return response.Control.Finish;
    }

    public async Task<CancelResponse> ExpectCancelAsync()
    {
        const string Expected = "CancelResponse";
        var response = await ExpectAsync(Expected).ConfigureAwait(false);
        if (response.Control?.ControlCase != UdfControlResponse.ControlOneofCase.Cancel)
        {
            throw Fail($"expected {Expected}, got {WireText.Describe(response)}");
        }

        return response.Control.Cancel;
    }

    /// <summary>
    /// After the terminator: half-closes (as the engine does once it knows the outcome) and
    /// requires the call to end with status OK and nothing more sent.
    /// </summary>
    public async Task ExpectCleanEndAsync()
    {
        await HalfCloseAsync().ConfigureAwait(false);
        var extra = await ReadAsync("the call to end with status OK").ConfigureAwait(false);
        if (extra is not null)
        {
            throw Fail($"expected nothing after the terminator and the call to end with status OK, got {WireText.Describe(extra)}");
        }
    }

    /// <summary>Half-closes the request stream; a call the worker already ended is not an error here.</summary>
    public async Task HalfCloseAsync()
    {
        lock (_transcriptLock)
        {
            _sent.Add("half-close");
        }

        try
        {
            await _call.RequestStream.CompleteAsync().WaitAsync(_timeout, KitClock.Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw Fail($"half-closing the request stream did not complete within {Seconds(_timeout)}");
        }
        catch (Exception ex) when (ex is RpcException or InvalidOperationException or IOException)
        {
            // The worker ended the call first; the next read reports its status.
        }
    }

    public ConformanceFailure Fail(string message)
    {
        lock (_transcriptLock)
        {
            List<string> received = [.. _received];
            if (_ending is not null)
            {
                received.Add(_ending);
            }

            return new($"{message}. Received: {(_received.Count == 0 ? "nothing" : string.Join(", ", _received))}.", [.. _sent], received);
        }
    }

    public void Dispose()
    {
        // Whatever state the check left the call in, the worker sees it break (rule 10).
        _abort.Cancel();
        _call.Dispose();
        _abort.Dispose();
    }

    internal static string DescribeError(Exception ex) => ex switch
    {
        RpcException rpc => $"gRPC status {rpc.StatusCode} '{rpc.Status.Detail}'",
        _ => ex.Message,
    };

    internal static string Seconds(TimeSpan timeout) => string.Create(CultureInfo.InvariantCulture, $"{timeout.TotalSeconds:0.###} s");
}
