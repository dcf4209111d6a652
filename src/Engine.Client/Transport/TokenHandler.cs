using System.Net.Http.Headers;

namespace Engine.Client.Transport;

/// <summary>
/// Adds <c>authorization: Bearer &lt;token&gt;</c> from a <see cref="WorkerTokenProvider"/> to every
/// HTTP/2 request of the channel, that is to every gRPC call, asking the provider each time.
/// </summary>
internal sealed class TokenHandler(WorkerTokenProvider provider, string worker, TimeProvider time) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        string token;
        try
        {
            token = await provider.GetTokenAsync(time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new InvalidOperationException($"The bearer token for the call to {worker} could not be obtained from its token provider: {ex.Message}", ex);
        }

        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }
}
