namespace Engine.Client;

/// <summary>
/// A bearer token for the calls to workers, with the time it stops being valid.
/// </summary>
/// <param name="Value">The token, sent as <c>authorization: Bearer &lt;value&gt;</c>. Not empty, no line breaks.</param>
/// <param name="ExpiresOn">
/// When the token expires; <see langword="null"/> when unknown. A token with an expiry is reused
/// until <see cref="WorkerTokenProvider.RefreshMargin"/> before it; one without is asked for again
/// on the next call (the provider caches it if that is cheaper).
/// </param>
public readonly record struct WorkerAccessToken(string Value, DateTimeOffset? ExpiresOn = null);

/// <summary>
/// Supplies the bearer token sent with every call to a worker (each session's Execute stream and
/// each Manage call) as the <c>authorization</c> header: set
/// <see cref="WorkerConnectionOptions.TokenProvider"/>. It is asked before each call, so a refreshed
/// token is used by the next call; a token with an expiry is cached until shortly before it, and
/// concurrent calls then share one refresh. One provider may serve many clients (a fleet's
/// workers): they share its cache.
/// </summary>
/// <remarks>
/// Implement <see cref="AcquireTokenAsync"/>, or use <see cref="FromFile"/> (a token file re-read
/// when it changes, as a Kubernetes projected service-account token is),
/// <see cref="FromEnvironmentVariable"/> or <see cref="Create"/>. An exception from the provider
/// fails the call before anything is sent, with the provider's message. Tokens go out over any
/// transport; over a plain <c>http://</c> address that is not on this machine they travel in the
/// clear (the client logs a warning once).
/// </remarks>
public abstract class WorkerTokenProvider
{
    private readonly Lock _gate = new();
    private WorkerAccessToken? _cached;
    private Task<WorkerAccessToken>? _refreshing;

    /// <summary>How long before its expiry a cached token is replaced: 30 s.</summary>
    public static readonly TimeSpan RefreshMargin = TimeSpan.FromSeconds(30);

    /// <summary>Gets a token: a fresh one, or the provider's own cached one.</summary>
    /// <param name="cancellationToken">Cancelled when the call it is for is cancelled.</param>
    /// <returns>The token; its value must not be empty.</returns>
    protected abstract ValueTask<WorkerAccessToken> AcquireTokenAsync(CancellationToken cancellationToken);

    /// <summary>
    /// A provider that reads the token from <paramref name="path"/> (following symbolic links), with
    /// surrounding whitespace trimmed, again whenever the file changes: its target, size or last
    /// write time, and on every call while the last write is less than 2 s old (a same-size rewrite
    /// within one file-system time tick is not missed).
    /// </summary>
    /// <param name="path">The token file; it must exist when a call is made.</param>
    public static WorkerTokenProvider FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return new FileTokenProvider(path);
    }

    /// <summary>A provider that sends the value of the environment variable <paramref name="name"/>, read once now.</summary>
    /// <exception cref="ArgumentException">The variable is not set or empty.</exception>
    public static WorkerTokenProvider FromEnvironmentVariable(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var value = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new ArgumentException($"The environment variable {name} that should hold the workers' bearer token is not set or empty.", nameof(name));
        }

        var token = new WorkerAccessToken(value.Trim());
        return Create(_ => ValueTask.FromResult(token));
    }

    /// <summary>A provider over a delegate, called as <see cref="AcquireTokenAsync"/> is.</summary>
    public static WorkerTokenProvider Create(Func<CancellationToken, ValueTask<WorkerAccessToken>> acquire)
    {
        ArgumentNullException.ThrowIfNull(acquire);
        return new DelegateTokenProvider(acquire);
    }

    /// <summary>The token for the next call: the cached one while valid, otherwise one refresh shared by concurrent callers.</summary>
    /// <param name="time">The client's clock, against which expiry times are compared.</param>
    /// <param name="cancellationToken">Abandons the wait (not a shared refresh).</param>
    internal async ValueTask<string> GetTokenAsync(TimeProvider time, CancellationToken cancellationToken)
    {
        Task<WorkerAccessToken> refresh;
        lock (_gate)
        {
            if (_cached is { ExpiresOn: { } expires } cached && time.GetUtcNow() < expires - RefreshMargin)
            {
                return cached.Value;
            }

            refresh = _refreshing ??= RefreshAsync();
        }

        var token = await refresh.WaitAsync(cancellationToken).ConfigureAwait(false);
        return token.Value;
    }

    private async Task<WorkerAccessToken> RefreshAsync()
    {
        await Task.Yield();
        try
        {
            // Not the caller's token: a refresh shared by several calls outlives any one of them.
            var token = await AcquireTokenAsync(CancellationToken.None).ConfigureAwait(false);
            if (string.IsNullOrWhiteSpace(token.Value) || token.Value.AsSpan().IndexOfAny('\r', '\n') >= 0)
            {
                throw new InvalidOperationException($"The worker token provider {this} returned an empty token, or one with a line break: a bearer token is one line of text.");
            }

            lock (_gate)
            {
                _cached = token;
            }

            return token;
        }
        finally
        {
            lock (_gate)
            {
                _refreshing = null;
            }
        }
    }

    private sealed class DelegateTokenProvider(Func<CancellationToken, ValueTask<WorkerAccessToken>> acquire) : WorkerTokenProvider
    {
        protected override ValueTask<WorkerAccessToken> AcquireTokenAsync(CancellationToken cancellationToken) => acquire(cancellationToken);
    }

    private sealed class FileTokenProvider(string path) : WorkerTokenProvider
    {
        /// <summary>
        /// How much older than the read a file's last write time must be before its stamp alone
        /// (target, time, size) is trusted: file systems keep write times in ticks (of up to 2 s),
        /// so a rewrite of the same size within the tick of the last read leaves the stamp
        /// unchanged. A file written within this window is read again on every call, as git
        /// re-reads a "racily clean" file.
        /// </summary>
        private static readonly TimeSpan RacyWindow = TimeSpan.FromSeconds(2);

        private readonly Lock _fileGate = new();
        private (string Target, DateTime WrittenUtc, long Length, string Token)? _last;

        protected override ValueTask<WorkerAccessToken> AcquireTokenAsync(CancellationToken cancellationToken)
        {
            try
            {
                // Follows a symbolic link, as a Kubernetes projected volume's ..data link is swapped.
                var info = new FileInfo(path);
                var resolved = info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info;
                if (!resolved.Exists)
                {
                    throw new FileNotFoundException(null, path);
                }

                var stamp = (resolved.FullName, resolved.LastWriteTimeUtc, resolved.Length);
                lock (_fileGate)
                {
                    if (_last is { } last && last.Target == stamp.FullName && last.WrittenUtc == stamp.LastWriteTimeUtc && last.Length == stamp.Length)
                    {
                        return ValueTask.FromResult(new WorkerAccessToken(last.Token));
                    }
                }

                var token = File.ReadAllText(path).Trim();
                if (token.Length == 0)
                {
                    throw new InvalidOperationException($"The workers' bearer token file {path} is empty.");
                }

                // The file system's clock, not the client's: write times come from it.
                var settled = TimeProvider.System.GetUtcNow().UtcDateTime - stamp.LastWriteTimeUtc > RacyWindow;
                lock (_fileGate)
                {
                    _last = settled ? (stamp.FullName, stamp.LastWriteTimeUtc, stamp.Length, token) : null;
                }

                return ValueTask.FromResult(new WorkerAccessToken(token));
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                throw new InvalidOperationException($"The workers' bearer token file {path} does not exist.", ex);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"Cannot read the workers' bearer token file {path}: {ex.Message}", ex);
            }
        }

        public override string ToString() => $"file {path}";
    }
}
