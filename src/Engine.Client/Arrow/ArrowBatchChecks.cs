using Apache.Arrow;

namespace Engine.Client.Arrow;

/// <summary>Checks of a caller's record batch before any of it is encoded.</summary>
internal static class ArrowBatchChecks
{
    /// <summary>
    /// Whether <paramref name="batch"/>'s memory was released by <see cref="RecordBatch.Dispose()"/>.
    /// Apache.Arrow keeps no disposed flag: a batch over native memory (built with the array
    /// builders) drops its buffers when disposed, which this detects by touching each buffer; a
    /// batch over managed memory (read from an IPC stream) stays readable after Dispose and is
    /// not detected, nor needs to be.
    /// </summary>
    public static bool IsReleased(RecordBatch batch)
    {
        foreach (var column in batch.Arrays)
        {
            if (IsReleased(column.Data))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsReleased(ArrayData? data)
    {
        if (data is null)
        {
            return false;
        }

        try
        {
            foreach (var buffer in data.Buffers ?? [])
            {
                _ = buffer.Memory;
            }
        }
        catch (Exception ex) when (ex is NullReferenceException or ObjectDisposedException)
        {
            return true;
        }

        foreach (var child in data.Children ?? [])
        {
            if (IsReleased(child))
            {
                return true;
            }
        }

        return IsReleased(data.Dictionary);
    }
}
