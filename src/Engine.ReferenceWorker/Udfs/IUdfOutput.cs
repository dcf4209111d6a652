using Google.Protobuf;

namespace Engine.ReferenceWorker.Udfs;

/// <summary>Where a UDF's output goes: each emitted batch becomes one DataResponse, in order.</summary>
internal interface IUdfOutput
{
    /// <summary>
    /// Queues one output batch. Returns at once unless the stream's output buffer is full (the
    /// engine is not reading), in which case it waits for room.
    /// </summary>
    /// <param name="batch">The batch bytes; sent as they are, without copying.</param>
    /// <param name="rows">Rows in the batch when the UDF knows them (metrics), else <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the wait for room.</param>
    ValueTask EmitAsync(ByteString batch, long? rows = null, CancellationToken cancellationToken = default);

    /// <summary>Counts input rows, for UDFs that decode their input (metrics <c>rows_in</c>).</summary>
    void RecordInputRows(long rows);
}
