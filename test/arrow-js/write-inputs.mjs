// Writes Arrow IPC inputs with Arrow's JavaScript implementation, one file per feature a producer
// uses, and a manifest.json naming them. Usage: node write-inputs.mjs <directory>
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as A from 'apache-arrow';

const directory = process.argv[2];
if (!directory) {
  console.error('usage: node write-inputs.mjs <directory>');
  process.exit(2);
}
mkdirSync(directory, { recursive: true });

const field = (name, type, nullable = true, metadata) => new A.Field(name, type, nullable, metadata ? new Map(Object.entries(metadata)) : undefined);
const words = ['red', 'green', 'blue', 'black', 'yellow', 'a colour name longer than twelve bytes', 'ü', ''];
const manifest = [];

/** A record batch of `length` rows from named vectors. */
function batch(schema, vectors, length) {
  const children = schema.fields.map((f) => vectors[f.name].data[0]);
  return new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length, nullCount: 0, children }));
}

/** Writes `batches` as an IPC stream (or file), and records it in the manifest. */
function write(name, schema, batches, { file = false, fileRefused = null } = {}) {
  const writer = file ? new A.RecordBatchFileWriter() : new A.RecordBatchStreamWriter();
  writer.reset(undefined, schema);
  for (const b of batches) writer.write(b);
  writer.finish();
  const path = join(directory, name);
  writeFileSync(path, writer.toUint8Array(true));
  manifest.push({ name, path, fileRefused });
}

function dictionaryVector(type, indices, dictionary) {
  return A.makeVector(A.makeData({ type, length: indices.length, nullCount: 0, data: Int32Array.from(indices), dictionary }));
}

// Dictionaries: a replacement (a new dictionary for id 0) and a delta (the same dictionary grown).
{
  const type = new A.Dictionary(new A.Utf8(), new A.Int32(), 0);
  const schema = new A.Schema([field('n', new A.Int32()), field('color', type)]);
  const first = A.vectorFromArray(['red', 'green'], new A.Utf8());
  const replacement = A.vectorFromArray(['black', 'yellow', 'blue'], new A.Utf8());
  const grown = first.concat(A.vectorFromArray(['teal', 'grey'], new A.Utf8()));
  const n = (from, count) => A.vectorFromArray(Array.from({ length: count }, (_, i) => from + i), new A.Int32());
  write('dictionary-replacement.arrows', schema, [
    batch(schema, { n: n(0, 4), color: dictionaryVector(type, [0, 1, 1, 0], first) }, 4),
    batch(schema, { n: n(4, 4), color: dictionaryVector(type, [0, 1, 2, 0], replacement) }, 4),
  ], { fileRefused: 'color' });
  write('dictionary-delta.arrows', schema, [
    batch(schema, { n: n(0, 3), color: dictionaryVector(type, [0, 1, 0], first) }, 3),
    batch(schema, { n: n(3, 4), color: dictionaryVector(type, [3, 2, 1, 0], grown) }, 4),
  ], { fileRefused: 'color' });
  write('dictionary-same.arrow', schema, [
    batch(schema, { n: n(0, 3), color: dictionaryVector(type, [0, 1, 0], first) }, 3),
    batch(schema, { n: n(3, 2), color: dictionaryVector(type, [1, 1], first) }, 2),
  ], { file: true });
}

// Views: utf8_view and binary_view, long enough to be split by rows under a 64 KiB message limit.
{
  const rows = 6000;
  const text = Array.from({ length: rows }, (_, i) => (i % 13 === 0 ? null : (i % 3 === 0 ? `s${i}` : `row ${i} `.padEnd(40 + (i % 50), '*'))));
  const bytes = Array.from({ length: rows }, (_, i) => (i % 11 === 0 ? null : Uint8Array.from({ length: i % 30 }, (_, j) => (i + j) % 256)));
  const schema = new A.Schema([field('sv', new A.Utf8View()), field('bv', new A.BinaryView())]);
  const vectors = { sv: A.vectorFromArray(text, new A.Utf8View()), bv: A.vectorFromArray(bytes, new A.BinaryView()) };
  write('views.arrows', schema, [batch(schema, vectors, rows)]);
  write('views.arrow', schema, [batch(schema, vectors, rows)], { file: true });
}

// Large offsets: large_utf8, large_binary, large_list.
{
  const schema = new A.Schema([
    field('ls', new A.LargeUtf8()),
    field('lb', new A.LargeBinary()),
    field('ll', new A.LargeList(field('item', new A.Int32()))),
  ]);
  const vectors = {
    ls: A.vectorFromArray(['x', null, 'large'], new A.LargeUtf8()),
    lb: A.vectorFromArray([Uint8Array.of(1, 2), null, Uint8Array.of()], new A.LargeBinary()),
    ll: A.vectorFromArray([[1, 2], null, []], new A.LargeList(field('item', new A.Int32()))),
  };
  write('large.arrows', schema, [batch(schema, vectors, 3)]);
}

// Nested: list, fixed-size list, struct, map.
{
  const struct = new A.Struct([field('a', new A.Utf8()), field('b', new A.Float64())]);
  const map = new A.Map_(field('entries', new A.Struct([field('key', new A.Utf8(), false), field('value', new A.Int32())]), false));
  const schema = new A.Schema([
    field('l', new A.List(field('item', new A.Int32()))),
    field('fsl', new A.FixedSizeList(2, field('item', new A.Int16()))),
    field('s', struct),
    field('m', map),
  ]);
  const vectors = {
    l: A.vectorFromArray([[1, 2, 3], [], null, [4]], new A.List(field('item', new A.Int32()))),
    fsl: A.vectorFromArray([[1, 2], null, [3, 4], [5, 6]], new A.FixedSizeList(2, field('item', new A.Int16()))),
    s: A.vectorFromArray([{ a: 'x', b: 1.5 }, null, { a: null, b: -2 }, { a: 'y', b: null }], struct),
    m: A.vectorFromArray([new Map([['k', 1], ['j', null]]), null, new Map(), new Map([['z', 26]])], map),
  };
  write('nested.arrows', schema, [batch(schema, vectors, 4)]);
  write('nested.arrow', schema, [batch(schema, vectors, 4)], { file: true });
}

// Unions: dense and sparse, with type ids that are not 0..n-1.
{
  const children = () => [field('i', new A.Int32()), field('s', new A.Utf8())];
  const dense = new A.DenseUnion([5, 9], children());
  const sparse = new A.SparseUnion([5, 9], children());
  const values = [1, 'a', 2, 'bb', null];
  const union = (type) => {
    const builder = A.makeBuilder({ type, nullValues: [undefined], valueToChildTypeId: (_, v) => (typeof v === 'string' ? 9 : 5) });
    for (const v of values) builder.append(v);
    return A.makeVector(builder.finish().flush());
  };
  const schema = new A.Schema([field('du', dense), field('su', sparse)]);
  write('unions.arrows', schema, [batch(schema, { du: union(dense), su: union(sparse) }, values.length)]);
}

// Decimals, time zones and other temporal types.
{
  const schema = new A.Schema([
    field('d', new A.Decimal(2, 12, 128)),
    field('ts', new A.TimestampMicrosecond('America/New_York')),
    field('tsn', new A.TimestampNanosecond()),
    field('day', new A.DateDay()),
    field('t', new A.TimeMillisecond()),
    field('dur', new A.DurationMicrosecond()),
  ]);
  const decimal = (n) => Uint32Array.of(n, 0, 0, 0);
  const vectors = {
    d: A.vectorFromArray([decimal(12345), null, decimal(7)], new A.Decimal(2, 12, 128)),
    ts: A.vectorFromArray([1700000000000, null, 0], new A.TimestampMicrosecond('America/New_York')),
    tsn: A.vectorFromArray([1700000000123, 86400000, null], new A.TimestampNanosecond()),
    day: A.vectorFromArray([new Date(Date.UTC(2024, 1, 29)), null, new Date(0)], new A.DateDay()),
    t: A.vectorFromArray([1000, 86399999, null], new A.TimeMillisecond()),
    dur: A.vectorFromArray([5n, null, -7n], new A.DurationMicrosecond()),
  };
  write('temporal-decimal.arrows', schema, [batch(schema, vectors, 3)]);
}

// Metadata on the schema and on fields, including an extension type's name on its storage.
{
  const schema = new A.Schema(
    [
      field('id', new A.Int64(), false, { comment: 'primary key' }),
      field('uuid', new A.FixedSizeBinary(16), true, { 'ARROW:extension:name': 'arrow.uuid', 'ARROW:extension:metadata': '' }),
    ],
    new Map([['producer', 'arrow-js'], ['version', '1']]),
  );
  const vectors = {
    id: A.vectorFromArray([1n, 2n], new A.Int64()),
    uuid: A.vectorFromArray([Uint8Array.from({ length: 16 }, (_, i) => i), null], new A.FixedSizeBinary(16)),
  };
  write('metadata.arrows', schema, [batch(schema, vectors, 2)]);
}

// Zero rows: a stream of empty and non-empty batches, a schema-only stream, and zero columns.
{
  const schema = new A.Schema([field('x', new A.Int32()), field('name', new A.Utf8())]);
  const rows = (xs) => batch(schema, { x: A.vectorFromArray(xs, new A.Int32()), name: A.vectorFromArray(xs.map((x) => (x === null ? null : `n${x}`)), new A.Utf8()) }, xs.length);
  write('zero-rows.arrows', schema, [rows([1, 2, 3]), rows([]), rows([4, null])]);
  write('schema-only.arrows', schema, []);
  const none = new A.Schema([]);
  write('zero-columns.arrows', none, [new A.RecordBatch(none, A.makeData({ type: new A.Struct([]), length: 5, nullCount: 0, children: [] }))]);
}

writeFileSync(join(directory, 'manifest.json'), JSON.stringify(manifest, null, 2));
