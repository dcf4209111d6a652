using System.Runtime.InteropServices;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Engine.Client.Arrow;
using Engine.Samples;
using static Engine.Client.Tests.Arrow.ArrowTestData;

namespace Engine.Client.Tests.Arrow;

/// <summary>The framing: one Arrow IPC stream per data message, written into a reused buffer, read without copying.</summary>
[TestFixture]
public sealed class ArrowFrameTests
{
    private const int Unlimited = 64 * 1024 * 1024;

    [Test]
    public void A_frame_is_a_standard_IPC_stream_with_the_schema_one_batch_and_the_end_marker()
    {
        using var batch = SampleData.CreateBatch(0, 10);
        using var writer = new ArrowFrameWriter(Unlimited);

        var frame = writer.Encode(batch).ToArray();

        using var reader = new ArrowStreamReader(new MemoryStream(frame));
        using var read = reader.ReadNextRecordBatch();
        Assert.Multiple(() =>
        {
            Assert.That(reader.Schema.FieldsList.Select(f => f.Name), Is.EqualTo(new[] { "id", "x", "score", "name", "flag", "ts" }));
            Assert.That(read.Length, Is.EqualTo(10));
            Assert.That(reader.ReadNextRecordBatch(), Is.Null, "exactly one batch");
            Assert.That(frame.AsSpan(frame.Length - 8).ToArray(), Is.EqualTo(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0 }), "end-of-stream marker");
        });
    }

    [TestCase(0, 1000, TestName = "Round trip of 1000 rows: int64, int32, double, utf8, bool, timestamp, with nulls")]
    [TestCase(5, 1, TestName = "Round trip of a single row")]
    [TestCase(7, 0, TestName = "Round trip of an empty batch")]
    public void Every_column_type_and_every_null_survives_a_round_trip(int first, int rows)
    {
        using var batch = SampleData.CreateBatch(first, rows);
        using var writer = new ArrowFrameWriter(Unlimited);

        var (schema, batches) = ArrowFrameReader.Read(writer.Encode(batch).ToArray());

        Assert.Multiple(() =>
        {
            Assert.That(ArrowSchemas.FindDifference(SampleData.Schema, schema), Is.Null);
            Assert.That(batches, Has.Count.EqualTo(1));
            Assert.That(batches[0].Length, Is.EqualTo(rows));
            AssertRows(Rows(batches[0]), SampleRows(first, rows));
        });
        if (rows > 100)
        {
            Assert.That(Rows(batches[0]).SelectMany(r => r).Count(c => c is null), Is.GreaterThan(100), "the sample has nulls in every nullable column");
        }
    }

    [TestCase(137, 300)]
    [TestCase(8, 16)]
    [TestCase(999, 1)]
    public void A_sliced_batch_round_trips_with_its_own_rows_only(int offset, int length)
    {
        using var batch = SampleData.CreateBatch(0, 1000);
        using var slice = batch.SliceShared(offset, length);
        using var writer = new ArrowFrameWriter(Unlimited);

        var whole = writer.Encode(batch).Length;
        var (_, batches) = ArrowFrameReader.Read(writer.Encode(slice).ToArray());

        AssertRows(Rows(batches.Single()), SampleRows(offset, length));
        Assert.That(writer.Buffer.Written.Length, Is.LessThan(whole), "only the slice's rows are written");
    }

    [Test]
    public void Reading_does_not_copy_every_buffer_points_into_the_message_memory()
    {
        using var batch = SampleData.CreateBatch(0, 500);
        var message = Ipc(batch);

        var (_, batches) = ArrowFrameReader.Read(message);

        var buffers = batches.Single().Arrays.SelectMany(a => a.Data.Buffers).Where(b => !b.IsEmpty).ToList();
        Assert.That(buffers, Has.Count.GreaterThanOrEqualTo(6));
        foreach (var buffer in buffers)
        {
            Assert.That(MemoryMarshal.TryGetArray(buffer.Memory, out var segment), Is.True);
            Assert.That(segment.Array, Is.SameAs(message), "a buffer was copied out of the message");
        }
    }

    [Test]
    public void Decoded_batches_stay_valid_once_the_reader_is_gone()
    {
        using var batch = SampleData.CreateBatch(40, 50);
        var (_, batches) = ArrowFrameReader.Read(Ipc(batch));
        GC.Collect();
        GC.WaitForPendingFinalizers();

        AssertRows(Rows(batches.Single()), SampleRows(40, 50));
    }

    [Test]
    public void Every_frame_reuses_one_buffer_and_encoding_allocates_no_batch_sized_array()
    {
        var batches = SampleData.CreateBatches(20 * 4000, 4000).ToList();
        using var writer = new ArrowFrameWriter(Unlimited);
        var first = writer.Encode(batches[0]);
        Assert.That(MemoryMarshal.TryGetArray(first, out var firstSegment), Is.True);
        var frameBytes = first.Length;

        var before = GC.GetAllocatedBytesForCurrentThread();
        var arrays = new List<byte[]?>();
        foreach (var batch in batches)
        {
            var frame = writer.Encode(batch);
            MemoryMarshal.TryGetArray(frame, out var segment);
            arrays.Add(segment.Array);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        batches.ForEach(b => b.Dispose());

        Assert.Multiple(() =>
        {
            Assert.That(frameBytes, Is.GreaterThan(100_000));
            Assert.That(arrays, Is.All.SameAs(firstSegment.Array), "every frame is written into the same array");
            Assert.That(allocated, Is.LessThan(frameBytes), $"encoding 20 frames of {frameBytes} bytes allocated {allocated} bytes");
        });
    }

    [Test]
    public void A_batch_over_the_limit_is_split_by_rows_into_frames_that_fit_in_order()
    {
        const int Limit = 64 * 1024;
        using var batch = SampleData.CreateBatch(0, 20_000);
        using var writer = new ArrowFrameWriter(Limit);

        var frames = new List<byte[]>();
        foreach (var frame in writer.Frames(batch, batchIndex: 3))
        {
            frames.Add(frame.ToArray());
        }

        var decoded = frames.Select(f => ArrowFrameReader.Read(f).Batches.Single()).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(frames, Has.Count.GreaterThan(10));
            Assert.That(frames.Select(f => f.Length), Is.All.LessThanOrEqualTo(Limit));
            Assert.That(frames.Max(f => f.Length), Is.GreaterThan(Limit / 2), "parts are not needlessly small");
            AssertRows(Rows(decoded), SampleRows(0, 20_000));
        });
    }

    [TestCase(false, TestName = "A view-type batch split by rows: each part carries only its rows' string bytes")]
    [TestCase(true, TestName = "A view-type column inside a struct and a list split by rows: each part carries only its rows' string bytes")]
    public void A_view_batch_split_by_rows_sends_about_its_own_size_value_for_value(bool nested)
    {
        const int Limit = 256 * 1024;
        const int Rows = 20_000;
        var strings = Enumerable.Range(0, Rows).Select(i => i % 17 == 0 ? null : $"row {i} ".PadRight(60 + (i % 20), '~')).ToList();
        var views = new StringViewArray.Builder();
        foreach (var text in strings)
        {
            if (text is null)
            {
                views.AppendNull();
            }
            else
            {
                views.Append(text);
            }
        }

        IArrowArray column = views.Build();
        if (nested)
        {
            // struct<sv: utf8_view> whose rows are each a one-item list<struct<...>>.
            var structType = new StructType([new Field("sv", StringViewType.Default, true)]);
            var structs = new StructArray(structType, Rows, [column], ArrowBuffer.Empty, 0);
            var offsets = new ArrowBuffer.Builder<int>().AppendRange(Enumerable.Range(0, Rows + 1)).Build();
            column = new ListArray(new ListType(new Field("item", structType, true)), Rows, offsets, structs, ArrowBuffer.Empty, 0);
        }

        using var batch = new RecordBatch(new Schema([new Field("v", column.Data.DataType, true)], null), [column], Rows);
        using var writer = new ArrowFrameWriter(Limit);
        var whole = writer.Encode(batch).Length;

        var frames = writer.Frames(batch, 0).Select(f => f.ToArray()).ToList();

        var parts = frames.Select(f => ArrowFrameReader.Read(f).Batches.Single()).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(frames, Has.Count.GreaterThan(whole / Limit), "split into parts that fit");
            Assert.That(frames.Select(f => f.Length), Is.All.LessThanOrEqualTo(Limit));
            Assert.That(frames.Sum(f => (long)f.Length), Is.LessThan(whole * 11L / 10), $"the parts together are about the batch's {whole} bytes");
            Assert.That(RandomArrow.Rows(parts), Is.EqualTo(RandomArrow.Rows([batch])));
        });
    }

    [Test]
    public void A_single_row_of_a_large_view_batch_encodes_to_its_own_size()
    {
        var builder = new StringViewArray.Builder();
        foreach (var i in Enumerable.Range(0, 50_000))
        {
            builder.Append($"a string of more than twelve bytes, number {i}");
        }

        using var batch = new RecordBatch(new Schema([new Field("sv", StringViewType.Default, true)], null), [builder.Build()], 50_000);
        using var writer = new ArrowFrameWriter(Unlimited);
        using var row = batch.SliceShared(25_000, 1);

        Assert.Multiple(() =>
        {
            Assert.That(writer.Encode(ArrowViewCompaction.Compact(row)).Length, Is.LessThan(1024), "one row, its view and its 50 bytes");
            Assert.That(ArrowFrameWriter.EstimateDataBytes(row), Is.EqualTo(1 + 16 + "a string of more than twelve bytes, number 25000".Length), "the estimate counts the bytes the row references");
            Assert.That(new ArrowFrameWriter(4096).Frames(row, 0).Single().Length, Is.LessThan(1024), "the frame of a one-row slice fits a small limit");
        });
    }

    [Test]
    public void A_batch_read_from_an_IPC_stream_splits_too_and_stays_intact()
    {
        const int Limit = 64 * 1024;
        using var original = SampleData.CreateBatch(0, 5_000);
        var (_, read) = ArrowFrameReader.Read(Ipc(original));
        using var batch = read.Single();
        using var writer = new ArrowFrameWriter(Limit);

        var parts = writer.Frames(batch, 0).Select(f => ArrowFrameReader.Read(f.ToArray()).Batches.Single()).ToList();

        Assert.That(parts, Has.Count.GreaterThan(1));
        AssertRows(Rows(parts), SampleRows(0, 5_000));
        AssertRows(Rows(batch), SampleRows(0, 5_000), "the caller's batch after splitting");
    }

    [Test]
    public void A_batch_that_fits_is_one_frame_whatever_the_limit()
    {
        using var batch = SampleData.CreateBatch(0, 100);
        using var writer = new ArrowFrameWriter(64 * 1024);

        Assert.That(writer.Frames(batch, 0).Count(), Is.EqualTo(1));
    }

    [Test]
    public void A_single_row_over_the_limit_is_rejected_with_its_position_after_the_rows_before_it()
    {
        const int Limit = 64 * 1024;
        using var batch = new RecordBatch.Builder()
            .Append("s", true, c => c.String(b => b.Append("small").Append(new string('x', 100_000)).Append("small")))
            .Build();
        using var writer = new ArrowFrameWriter(Limit);

        var sent = new List<byte[]>();
        var error = Assert.Throws<ArgumentException>(() =>
        {
            foreach (var frame in writer.Frames(batch, batchIndex: 7))
            {
                sent.Add(frame.ToArray());
            }
        });

        Assert.That(error!.Message, Does.StartWith("Row 1 of input batch 7 encodes to "));
        Assert.That(error.Message, Does.Contain($"over the worker's message limit ({Limit} bytes"));
        Assert.That(error.Message, Does.Contain("MaxSendMessageSize"));
        Assert.That(sent.Select(f => Rows(ArrowFrameReader.Read(f).Batches.Single())).SelectMany(r => r).Select(r => r[0]), Is.EqualTo(new[] { "small" }));
    }

    [Test]
    public void A_frame_that_is_not_Arrow_is_rejected_with_a_reason()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => ArrowFrameReader.Read(Encoding.UTF8.GetBytes("definitely not arrow")), Throws.TypeOf<InvalidDataException>().With.Message.StartsWith("is not a valid Arrow IPC stream ("));
            Assert.That(() => ArrowFrameReader.Read(ReadOnlyMemory<byte>.Empty), Throws.TypeOf<InvalidDataException>().With.Message.EqualTo("is empty, not an Arrow IPC stream"));
        });
        using var batch = SampleData.CreateBatch(0, 100);
        var truncated = Ipc(batch).AsMemory(0, 300);
        Assert.That(() => ArrowFrameReader.Read(truncated), Throws.TypeOf<InvalidDataException>());
    }

    [Test]
    public void A_schema_travels_as_an_IPC_stream_holding_the_schema_only()
    {
        var bytes = ArrowSchemas.Serialize(SampleData.Schema);

        using var reader = new ArrowStreamReader(new MemoryStream(bytes));
        Assert.Multiple(() =>
        {
            Assert.That(ArrowSchemas.FindDifference(SampleData.Schema, reader.Schema), Is.Null);
            Assert.That(reader.ReadNextRecordBatch(), Is.Null);
            Assert.That(ArrowSchemas.FindDifference(SampleData.Schema, ArrowSchemas.Deserialize(bytes)), Is.Null);
            Assert.That(() => ArrowSchemas.Deserialize(Encoding.UTF8.GetBytes("nope")), Throws.TypeOf<InvalidDataException>());
        });
    }

    [Test]
    public void Schema_differences_name_the_field_and_both_types()
    {
        var sample = SampleData.Schema;
        Assert.Multiple(() =>
        {
            Assert.That(ArrowSchemas.FindDifference(sample, SampleWithWideX()), Is.EqualTo("field 1 'x' is int64 where the schema has int32"));
            Assert.That(ArrowSchemas.FindDifference(sample, sample.SetField(3, new Field("label", StringType.Default, true))), Is.EqualTo("field 3 is named 'label' where the schema has 'name'"));
            Assert.That(ArrowSchemas.FindDifference(sample, sample.RemoveField(5)), Is.EqualTo("it has 5 fields where the schema has 6: field 5 'ts' (timestamp[us, UTC]) is missing"));
            Assert.That(ArrowSchemas.FindDifference(sample, sample.SetField(5, new Field("ts", new TimestampType(TimeUnit.Millisecond, "UTC"), true))), Is.EqualTo("field 5 'ts' is timestamp[ms, UTC] where the schema has timestamp[us, UTC]"));
            Assert.That(ArrowSchemas.FindDifference(sample, sample.SetField(0, new Field("id", Int64Type.Default, nullable: true))), Is.Null, "nullability is not compared");
            Assert.That(
                ArrowSchemas.FindDifference(new Schema([new Field("l", new ListType(new Field("item", Int32Type.Default, true)), true)], null), new Schema([new Field("l", new ListType(new Field("element", Int32Type.Default, true)), true)], null)),
                Is.Null,
                "list child names differ between implementations");
        });
    }

    [Test]
    public void A_disposed_batch_over_native_memory_is_detected()
    {
        var live = SampleData.CreateBatch(0, 10);
        var disposed = SampleData.CreateBatch(0, 10);
        disposed.Dispose();

        Assert.That(ArrowBatchChecks.IsReleased(live), Is.False);
        Assert.That(ArrowBatchChecks.IsReleased(disposed), Is.True);
        live.Dispose();
    }
}
