// Reads an Arrow IPC stream or file with Arrow's JavaScript implementation and prints it as
// canonical JSON: the schema (names, types, nullability, metadata) and every row's values, batch
// boundaries left out (a run may split or merge batches). Usage: node read-canonical.mjs <file>
import { readFileSync } from 'node:fs';
import * as A from 'apache-arrow';

const path = process.argv[2];
if (!path) {
  console.error('usage: node read-canonical.mjs <arrow file or stream>');
  process.exit(2);
}

const hex = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
const metadata = (map) => Object.fromEntries([...(map ?? new Map()).entries()].sort(([a], [b]) => (a < b ? -1 : 1)));

function describe(f) {
  const t = f.type;
  let type = String(t);
  if (A.DataType.isUnion(t)) type += ` mode=${A.UnionMode[t.mode]} typeIds=${[...t.typeIds]}`;
  if (A.DataType.isDecimal(t)) type += ` bitWidth=${t.bitWidth}`;
  if (A.DataType.isDictionary(t)) type += ` ordered=${t.isOrdered}`;
  return { name: f.name, type, nullable: f.nullable, metadata: metadata(f.metadata), children: (t.children ?? []).map(describe) };
}

/** A value as plain JSON, by its Arrow type. */
function canonical(type, value) {
  if (value === null || value === undefined) return null;
  const T = A.DataType;
  if (T.isDictionary(type)) return canonical(type.dictionary, value);
  if (T.isDecimal(type)) return A.util.bigNumToString(new A.util.BN(value)) + `e-${type.scale}`;
  if (T.isBinary(type) || T.isLargeBinary(type) || T.isFixedSizeBinary(type) || type.typeId === A.Type.BinaryView) return hex(value);
  if (T.isList(type) || T.isLargeList?.(type) || T.isFixedSizeList(type)) return [...value].map((v) => canonical(type.children[0].type, v));
  if (T.isStruct(type)) return type.children.map((c) => canonical(c.type, value[c.name]));
  if (T.isMap(type)) {
    const [key, item] = type.children[0].type.children;
    return [...value].map(([k, v]) => [canonical(key.type, k), canonical(item.type, v)]);
  }
  if (T.isUnion(type)) return { value: plain(value) };
  return plain(value);
}

function plain(value) {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.getTime();
  if (ArrayBuffer.isView(value)) return hex(value);
  return value;
}

const reader = A.RecordBatchReader.from(readFileSync(path));
const rows = [];
let schema = null;
for (const batch of reader) {
  schema ??= batch.schema;
  for (let i = 0; i < batch.numRows; i++) {
    rows.push(batch.schema.fields.map((f, c) => canonical(f.type, batch.getChildAt(c)?.get(i))));
  }
}
schema ??= reader.schema;
console.log(JSON.stringify({
  fields: schema ? schema.fields.map(describe) : null,
  metadata: schema ? metadata(schema.metadata) : null,
  rows,
}, null, 1));
