// Fuzz cases for the checkpoint readers, built from the golden tiny CoCa (../shared/golden/coca-tiny):
// truncations at many points, the safetensors length field and header bytes, offsets, dtypes and shapes,
// NaN/Inf written into tensors, the .bin's zip fields (local and central headers, extra lengths, CRCs,
// directory records, duplicated entries), bytes flipped anywhere, hostile pickles in whole archives, and
// mutated pickles fed to the parser. Each input goes through what a load does (open, check against the
// config, convert every tensor the way the loader does: ranged reads, out of order, and whole-tensor
// transposes) and, when accepted, every tensor read must equal the reference bit for bit.
//
// safetensors has no checksum: a flipped bit inside tensor data is a valid file with other weights, so data
// bytes are only mutated here into NaN/Inf/fp16-overflow, which the conversion must refuse. A .bin has a
// CRC-32 per entry, so a flip anywhere in it must be refused or be harmless.

import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { NonFiniteWeightError } from '../../src/errors';
import { openCheckpoint } from '../../src/io/checkpoint';
import { stateDictTensors, unpickle } from '../../src/io/pickle';
import { checkReadRange, type ByteSource } from '../../src/io/source';
import { readZipDirectory, type ZipEntry } from '../../src/io/zip';
import { parseOpenClipConfig, validateCheckpoint } from '../../src/model/config';
import { EntryConverter, weightLayout } from '../../src/model/weights';
import { concat, f32Bytes, GOLDEN_CONFIG, GOLDEN_SAFETENSORS, GOLDEN_TORCH, P, stateDictPickle, torchArchive, tupleOf } from '../io-fixtures';
import { FuzzMismatch, seededInts, type FuzzCase } from './case';

/** Changes to a file: it may end early (`size` below the original) or seem longer, and bytes may be overwritten. */
interface Mutation {
  size?: number;
  patches?: [offset: number, bytes: ArrayLike<number>][];
}

/** The file with `mutation` applied, read lazily (no copy of the 20 MB original per case). */
function mutated(base: Uint8Array, name: string, mutation: Mutation): ByteSource {
  const size = mutation.size ?? base.byteLength;
  const patches = mutation.patches ?? [];
  return {
    size,
    name,
    read: async (offset, length) => {
      // Readers must never ask outside the file: the RangeError this throws would be a problem.
      checkReadRange({ size, name }, offset, length);
      const out = new Uint8Array(length);
      if (offset < base.byteLength) out.set(base.subarray(offset, Math.min(offset + length, base.byteLength)));
      for (const [at, bytes] of patches) {
        for (let i = Math.max(0, offset - at); i < bytes.length && at + i < offset + length; i++) out[at + i - offset] = bytes[i]!;
      }
      return out;
    },
  };
}

const u16 = (value: number): number[] => [value & 0xff, (value >>> 8) & 0xff];
const u32 = (value: number): number[] => [...u16(value & 0xffff), ...u16(Math.floor(value / 0x10000) & 0xffff)];
const u64 = (value: number): number[] => [...u32(value % 2 ** 32), ...u32(Math.floor(value / 2 ** 32))];

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

const safetensors = new Uint8Array(readFileSync(GOLDEN_SAFETENSORS));
const torch = new Uint8Array(readFileSync(GOLDEN_TORCH));
const config = parseOpenClipConfig(JSON.parse(readFileSync(GOLDEN_CONFIG, 'utf8')), 'coca-tiny');
const layout = weightLayout(config, 'fp16');

/**
 * Loads `source` as the runtime reads it and checks every tensor against `expected` (name → bytes): open,
 * check against the config, then each tensor in two ranged reads, the second half first (as a resumed
 * download reads it). A FuzzMismatch means the reader accepted the input but produced other weights. With
 * `convert`, every tensor first goes through the loader's conversion (where non-finite values are caught);
 * equal bytes convert equally, so the other cases skip that cost.
 */
async function loadAndCheck(source: ByteSource, expected: ReadonlyMap<string, Uint8Array>, convert = false): Promise<void> {
  const checkpoint = await openCheckpoint(source);
  validateCheckpoint(checkpoint, config);
  if (convert) {
    const converter = new EntryConverter(checkpoint);
    await converter.logitScale();
    for (const entry of layout.entries) {
      if (entry.transform.kind !== 'copy') await converter.convert(entry);
      else await converter.convertRange(entry, 0, entry.byteLength);
    }
  }
  for (const [name, bytes] of expected) {
    const info = checkpoint.tensors.get(name)!;
    if (info.dtype !== 'F32' || info.byteLength !== bytes.byteLength) throw new FuzzMismatch(`${name} was indexed as ${info.dtype}, ${info.byteLength} bytes`);
    const half = Math.floor(info.byteLength / 8) * 4;
    const tail = await checkpoint.source.read(info.byteOffset + half, info.byteLength - half);
    const head = await checkpoint.source.read(info.byteOffset, half);
    if (!sameBytes(head, bytes.subarray(0, half)) || !sameBytes(tail, bytes.subarray(half))) {
      throw new FuzzMismatch(`tensor ${name} differs from the reference`);
    }
  }
}

/** A case whose input must make the load fail with NonFiniteWeightError naming `tensor`. */
function nonFiniteCase(label: string, source: ByteSource, tensor: string, reference: ReadonlyMap<string, Uint8Array>): FuzzCase {
  return {
    label,
    run: async () => {
      try {
        await loadAndCheck(source, reference, true);
      } catch (error) {
        if (error instanceof NonFiniteWeightError && error.tensor === tensor) throw error;
        throw new FuzzMismatch(`expected NonFiniteWeightError for ${tensor}, got ${String(error)}`);
      }
      throw new FuzzMismatch(`a non-finite value in ${tensor} was accepted`);
    },
  };
}

// ---------------------------------------------------------------- safetensors

const headerLength = new DataView(safetensors.buffer).getUint32(0, true);
const header = JSON.parse(new TextDecoder().decode(safetensors.subarray(8, 8 + headerLength))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
const dataStart = 8 + headerLength;

/** A safetensors file with another header (re-serialized) and the golden data section. */
function withHeader(json: string): Uint8Array {
  const bytes = new TextEncoder().encode(json);
  return concat([u64(bytes.byteLength), bytes, safetensors.subarray(dataStart)]);
}

function safetensorsCases(reference: ReadonlyMap<string, Uint8Array>): FuzzCase[] {
  const cases: FuzzCase[] = [];
  const add = (label: string, source: ByteSource, expected: ReadonlyMap<string, Uint8Array> = reference): void => {
    cases.push({ label: `safetensors: ${label}`, run: () => loadAndCheck(source, expected) });
  };
  const file = (mutation: Mutation): ByteSource => mutated(safetensors, 'model.safetensors', mutation);
  const next = seededInts(101);
  const names = Object.keys(header).filter((name) => name !== '__metadata__');

  // Truncations: inside the length field, around the header's end, at seeded points, one byte short.
  const cuts = [0, 1, 7, 8, 9, 100, dataStart - 2, dataStart - 1, dataStart, dataStart + 1, safetensors.byteLength - 1];
  for (let i = 0; i < 30; i++) cuts.push(next(safetensors.byteLength));
  for (const cut of cuts) add(`cut at ${cut}`, file({ size: cut }));

  // The length field.
  for (const length of [headerLength - 1, headerLength - 2, headerLength - 8, headerLength + 1, headerLength + 8, 0, 1, 2, 2 ** 32 + headerLength, 2 ** 53, 91_000_000]) {
    add(`header length ${length}`, file({ patches: [[0, u64(length)]] }));
  }
  add('header length 2^64 - 1', file({ patches: [[0, new Array<number>(8).fill(0xff)]] }));
  add('a 91 MB header in a file that long', file({ size: 8 + 91_000_000 + 1000, patches: [[0, u64(91_000_000)]] }));

  // Header bytes overwritten with JSON-significant and other bytes.
  const palette = [...'0123456789", :{}[]x\\-.eE'].map((c) => c.charCodeAt(0)).concat([0x00, 0x09, 0x0a, 0x7f, 0xc3, 0xff]);
  for (let i = 0; i < 150; i++) {
    const at = 8 + next(headerLength);
    const byte = palette[next(palette.length)]!;
    if (byte === safetensors[at]) continue;
    add(`header byte ${at} → 0x${byte.toString(16)}`, file({ patches: [[at, [byte]]] }));
  }

  // Structured changes to the header, re-serialized.
  const edited = (label: string, edit: (h: typeof header) => void, expected?: ReadonlyMap<string, Uint8Array>): void => {
    const copy = structuredClone(header);
    edit(copy);
    const bytes = withHeader(JSON.stringify(copy));
    cases.push({
      label: `safetensors: ${label}`,
      run: () => loadAndCheck(mutated(bytes, 'model.safetensors', {}), expected ?? reference),
    });
  };
  for (let i = 0; i < 6; i++) {
    const name = names[next(names.length)]!;
    edited(`${name} offsets +4`, (h) => (h[name]!.data_offsets = [h[name]!.data_offsets[0] + 4, h[name]!.data_offsets[1] + 4]));
    edited(`${name} end −4`, (h) => (h[name]!.data_offsets[1] -= 4));
    for (const dtype of ['F16', 'BF16', 'I32', 'F64', 'U8', 'Q4']) edited(`${name} dtype ${dtype}`, (h) => (h[name]!.dtype = dtype));
    edited(`${name} shape flattened`, (h) => (h[name]!.shape = [h[name]!.shape.reduce((a, b) => a * b, 1)]));
    edited(`${name} left out`, (h) => delete h[name]);
  }
  // Two tensors of one size trade places: a valid file with other weights, which must be read as such.
  const [first, second] = names.filter((name) => header[name]!.shape.join() === '48');
  edited(
    `${first} and ${second} trade offsets (read as swapped)`,
    (h) => ([h[first!]!.data_offsets, h[second!]!.data_offsets] = [h[second!]!.data_offsets, h[first!]!.data_offsets]),
    new Map([...reference, [first!, reference.get(second!)!], [second!, reference.get(first!)!]]),
  );
  edited('an extra empty tensor at the end (harmless)', (h) => {
    const end = Math.max(...names.map((name) => h[name]!.data_offsets[1]));
    h['extra.buffer'] = { dtype: 'F32', shape: [0], data_offsets: [end, end] };
  });
  edited('__metadata__ of strings (harmless)', (h) => ((h as Record<string, unknown>).__metadata__ = { format: 'pt', note: '{"data_offsets": [0, 1]}' }));
  edited('__metadata__ with a number', (h) => ((h as Record<string, unknown>).__metadata__ = { format: 1 }));
  const json = JSON.stringify(header);
  for (const padding of ['        ', '\t\n\r ', ' '.repeat(4096)]) {
    cases.push({
      label: `safetensors: header padded with ${JSON.stringify(padding.slice(0, 8))}×${padding.length} (harmless)`,
      run: () => loadAndCheck(mutated(withHeader(json + padding), 'model.safetensors', {}), reference),
    });
  }
  const duplicate = `{${json.slice(1, json.indexOf('},') + 1)},${json.slice(1)}`;
  cases.push({ label: 'safetensors: an entry listed twice', run: () => loadAndCheck(mutated(withHeader(duplicate), 'd.safetensors', {}), reference) });
  cases.push({ label: 'safetensors: JSON and then garbage', run: () => loadAndCheck(mutated(withHeader(`${json}xx`), 'g.safetensors', {}), reference) });
  cases.push({
    label: 'safetensors: 300,000 empty entries in a 15 MB header',
    run: () => {
      const entries = Array.from({ length: 300_000 }, (_, i) => `"${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
      return loadAndCheck(mutated(withHeader(`{${entries.join(',')}}`), 'many.safetensors', {}), reference);
    },
  });
  cases.push({
    label: 'safetensors: arrays nested a million deep',
    run: () => loadAndCheck(mutated(withHeader(`{"a":${'['.repeat(1_000_000)}}`), 'deep.safetensors', {}), reference),
  });

  // NaN, ±Inf and a value no half can hold, written into tensors.
  // Only weights stored as fp16 pairs must fit a half; LayerNorm parameters, biases and logit_scale stay f32.
  const halves = [...new Set(layout.entries.filter((entry) => entry.dtype === 'f16x2').map((entry) => entry.source))];
  for (const [label, value] of [['NaN', NaN], ['Inf', Infinity], ['-Inf', -Infinity], ['70000 (fp16 overflow)', 70000]] as const) {
    const candidates = value === 70000 ? halves : names;
    for (let i = 0; i < 5; i++) {
      const name = candidates[next(candidates.length)]!;
      const [begin, end] = header[name]!.data_offsets;
      const at = dataStart + begin + 4 * next((end - begin) / 4);
      cases.push(nonFiniteCase(`safetensors: ${label} in ${name}`, file({ patches: [[at, f32Bytes([value])]] }), name, reference));
    }
  }
  return cases;
}

// ---------------------------------------------------------------- .bin

/** Where the golden archive keeps each structure. */
interface ZipLayout {
  entries: ZipEntry[];
  directoryOffset: number;
  eocd: number;
  locator: number;
  zip64Record: number;
  /** Offsets of each entry's record in the central directory. */
  centralRecords: Map<string, number>;
}

async function zipLayout(): Promise<ZipLayout> {
  const directory = await readZipDirectory(mutated(torch, 'model.bin', {}));
  const view = new DataView(torch.buffer, torch.byteOffset, torch.byteLength);
  const eocd = torch.byteLength - 22;
  const locator = eocd - 20;
  const zip64Record = Number(view.getBigUint64(locator + 8, true));
  const centralRecords = new Map<string, number>();
  for (let at = directory.directoryOffset; at < zip64Record; ) {
    const nameLength = view.getUint16(at + 28, true);
    centralRecords.set(new TextDecoder().decode(torch.subarray(at + 46, at + 46 + nameLength)), at);
    at += 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
  }
  return { entries: [...directory.entries.values()], directoryOffset: directory.directoryOffset, eocd, locator, zip64Record, centralRecords };
}

/** The archive with the central record of `name` appended a second time (counts, sizes and offsets fixed up). */
function withDuplicatedRecord(zip: ZipLayout, name: string): Uint8Array {
  const view = new DataView(torch.buffer, torch.byteOffset, torch.byteLength);
  const start = zip.centralRecords.get(name)!;
  const length = 46 + view.getUint16(start + 28, true) + view.getUint16(start + 30, true) + view.getUint16(start + 32, true);
  const record = torch.subarray(start, start + length);
  const out = concat([torch.subarray(0, zip.zip64Record), record, torch.subarray(zip.zip64Record)]);
  const outView = new DataView(out.buffer);
  const zip64 = zip.zip64Record + length;
  const count = Number(outView.getBigUint64(zip64 + 32, true)) + 1;
  outView.setBigUint64(zip64 + 24, BigInt(count), true);
  outView.setBigUint64(zip64 + 32, BigInt(count), true);
  outView.setBigUint64(zip64 + 40, outView.getBigUint64(zip64 + 40, true) + BigInt(length), true);
  outView.setBigUint64(zip.locator + length + 8, BigInt(zip64), true);
  return out;
}

/** Small archives around hostile pickles: each must be refused by name, nothing executed or allocated. */
function hostilePickles(): [string, Uint8Array][] {
  const bytes = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());
  const ascii = (s: string): number[] => [...new TextEncoder().encode(s)];
  const deepMarks = new Uint8Array(1_000_002).fill(0x28);
  deepMarks.set(P.proto());
  const deepLists = new Uint8Array(600_002);
  deepLists.set(P.proto());
  deepLists.fill(0x5d, 2, 300_002);
  deepLists.fill(0x61, 300_002, 600_001);
  deepLists[600_001] = 0x2e;
  const selfAppend = bytes(P.proto(), [0x5d, 0x71, 0], ...Array.from({ length: 100_000 }, () => [0x68, 0, 0x61]), P.stop());
  return [
    ['os.system', bytes(P.proto(), P.global('os', 'system'), tupleOf(P.str('echo pwned')), P.reduce(), P.stop())],
    ['builtins.eval inside a tensor rebuild', bytes(P.proto(), P.global('torch._utils', '_rebuild_tensor_v2'), tupleOf(P.global('builtins', 'eval'), P.int(0)), P.reduce(), P.stop())],
    ['calling a storage type', bytes(P.proto(), P.global('torch', 'FloatStorage'), tupleOf(), P.reduce(), P.stop())],
    ['STACK_GLOBAL', bytes([0x80, 4], P.str('os'), P.str('system'), [0x93], P.stop())],
    ['INST', bytes(P.proto(), ascii('ios\nsystem\n'), P.stop())],
    ['OBJ', bytes(P.proto(), P.mark(), P.global('os', 'system'), [0x6f], P.stop())],
    ['NEWOBJ', bytes(P.proto(), P.emptyTuple(), P.emptyTuple(), [0x81], P.stop())],
    ['EXT1', bytes(P.proto(), [0x82, 1], P.stop())],
    ['PERSID (text)', bytes(P.proto(), ascii('P0\n'), P.stop())],
    ['FRAME', bytes([0x80, 4, 0x95], new Array<number>(8).fill(0), P.stop())],
    ['BINBYTES8', bytes(P.proto(), [0x8e], new Array<number>(8).fill(0xff), P.stop())],
    ['protocol 9', bytes([0x80, 9], P.stop())],
    ['a GLOBAL name without end', bytes(P.proto(), [0x63], new Array<number>(5000).fill(0x61))],
    ['a million nested MARKs', deepMarks],
    ['300,000 nested lists', deepLists],
    ['a list appended to itself 100,000 times', selfAppend],
    ['a 4 GB string length', bytes(P.proto(), [0x58, 0xf0, 0xff, 0xff, 0xff], ascii('tiny'))],
    ['an unset memo slot', bytes(P.proto(), [0x6a, 0xff, 0xff, 0xff, 0x7f], P.stop())],
    ['a 255-byte integer', bytes(P.proto(), [0x8a, 255], new Array<number>(255).fill(0x7f), P.stop())],
    ['SETITEM on a list', bytes(P.proto(), [0x5d], P.str('a'), P.int(1), P.setitem(), P.stop())],
    ['a tensor with a negative-looking offset', stateDictPickle([{ key: 'w', storageKey: '0', storageNumel: 4, offset: 0xffffffff, shape: [4] }])],
    ['a tensor larger than its storage', stateDictPickle([{ key: 'w', storageKey: '0', storageNumel: 4, shape: [1_000_000, 1_000_000] }])],
    ['an integer storage', stateDictPickle([{ key: 'w', storageKey: '0', storageType: 'LongStorage', storageNumel: 2, shape: [2] }])],
  ];
}

function torchCases(reference: ReadonlyMap<string, Uint8Array>, zip: ZipLayout): FuzzCase[] {
  const cases: FuzzCase[] = [];
  const add = (label: string, source: ByteSource): void => {
    cases.push({ label: `bin: ${label}`, run: () => loadAndCheck(source, reference) });
  };
  const file = (mutation: Mutation): ByteSource => mutated(torch, 'model.bin', mutation);
  const next = seededInts(202);
  const byName = new Map(zip.entries.map((entry) => [entry.name, entry]));
  const pickle = byName.get('open_clip_pytorch_model/data.pkl')!;
  const storages = zip.entries.filter((entry) => entry.name.includes('/data/'));

  // Truncations.
  const cuts = [0, 3, 4, 30, pickle.localHeaderOffset + 100, zip.directoryOffset, zip.directoryOffset + 10, zip.zip64Record, zip.locator, zip.eocd, torch.byteLength - 1];
  for (let i = 0; i < 25; i++) cuts.push(next(torch.byteLength));
  for (const cut of cuts) add(`cut at ${cut}`, file({ size: cut }));

  // One byte flipped: in the end records, the directory, local headers, the pickle, and anywhere.
  const regions: [string, number, number][] = [
    ['end records', zip.zip64Record, torch.byteLength],
    ['central directory', zip.directoryOffset, zip.zip64Record],
    ['first local headers', 0, storages[20]!.localHeaderOffset],
    ['pickle', pickle.localHeaderOffset, pickle.localHeaderOffset + 30 + 32 + 66 + pickle.size + 16],
    ['anywhere', 0, torch.byteLength],
  ];
  for (const [region, from, to] of regions) {
    for (let i = 0; i < 20; i++) {
      const at = from + next(to - from);
      const bit = 1 << next(8);
      add(`${region}: byte ${at} ^ 0x${bit.toString(16)}`, file({ patches: [[at, [torch[at]! ^ bit]]] }));
    }
  }

  // Each field of a few local headers and central records set to other values.
  const picked = [pickle, storages[0]!, storages[5]!, storages[storages.length - 1]!, byName.get('open_clip_pytorch_model/version')!];
  const localFields: [string, number, 2 | 4][] = [['version', 4, 2], ['flags', 6, 2], ['method', 8, 2], ['crc', 14, 4], ['compressed size', 18, 4], ['size', 22, 4], ['name length', 26, 2], ['extra length', 28, 2]];
  const centralFields: [string, number, 2 | 4][] = [['flags', 8, 2], ['method', 10, 2], ['crc', 16, 4], ['compressed size', 20, 4], ['size', 24, 4], ['name length', 28, 2], ['extra length', 30, 2], ['comment length', 32, 2], ['local header offset', 42, 4]];
  const view = new DataView(torch.buffer, torch.byteOffset, torch.byteLength);
  for (const entry of picked) {
    const central = zip.centralRecords.get(entry.name)!;
    for (const [fields, base, where] of [[localFields, entry.localHeaderOffset, 'local'], [centralFields, central, 'central']] as const) {
      for (const [field, offset, width] of fields) {
        const value = width === 2 ? view.getUint16(base + offset, true) : view.getUint32(base + offset, true);
        for (const changed of [value + 1, value ^ 0x8, width === 2 ? 0xffff : 0xffffffff]) {
          const wrapped = width === 2 ? changed & 0xffff : changed >>> 0;
          if (wrapped === value) continue;
          add(`${entry.name} ${where} ${field} ${value} → ${wrapped}`, file({ patches: [[base + offset, width === 2 ? u16(wrapped) : u32(wrapped)]] }));
        }
      }
    }
    // The record inside the local extra field (PyTorch's 'FB' padding): its length changed.
    const extraAt = entry.localHeaderOffset + 30 + view.getUint16(entry.localHeaderOffset + 26, true);
    for (const delta of [-2, -1, 1, 4]) {
      add(`${entry.name} local extra record length ${delta > 0 ? '+' : ''}${delta}`, file({ patches: [[extraAt + 2, u16(view.getUint16(extraAt + 2, true) + delta)]] }));
    }
  }
  for (const [field, offset] of [['entry count', 32], ['directory size', 40], ['directory offset', 48]] as const) {
    const value = Number(view.getBigUint64(zip.zip64Record + offset, true));
    for (const changed of [value + 1, value - 1, value + 46, 0]) add(`ZIP64 ${field} ${value} → ${changed}`, file({ patches: [[zip.zip64Record + offset, u64(changed)]] }));
  }
  add('ZIP64 locator pointing 1 byte early', file({ patches: [[zip.locator + 8, u64(zip.zip64Record - 1)]] }));

  for (const name of [pickle.name, storages[3]!.name]) {
    const bytes = withDuplicatedRecord(zip, name);
    add(`${name} listed twice in the directory`, mutated(bytes, 'model.bin', {}));
  }

  // A CRC-valid archive whose storage holds a NaN: the zip is fine, the weights are not.
  const entry = storages[7]!;
  cases.push({
    label: `bin: a NaN written into ${entry.name} (CRC kept valid)`,
    run: async () => {
      const archive = torch.slice();
      const dataOffset = entry.localHeaderOffset + 30 + view.getUint16(entry.localHeaderOffset + 26, true) + view.getUint16(entry.localHeaderOffset + 28, true);
      archive.set(f32Bytes([NaN]), dataOffset);
      new DataView(archive.buffer).setUint32(zip.centralRecords.get(entry.name)! + 16, crc32(archive.subarray(dataOffset, dataOffset + entry.size)), true);
      const checkpoint = await openCheckpoint(mutated(archive, 'nan.bin', {}));
      const tensor = [...checkpoint.tensors.values()].find((info) => info.byteOffset === dataOffset)!.name;
      return nonFiniteCase('', mutated(archive, 'nan.bin', {}), tensor, reference).run();
    },
  });

  for (const [label, hostile] of hostilePickles()) {
    cases.push({
      label: `bin: hostile pickle: ${label}`,
      run: async () => {
        await openCheckpoint(mutated(torchArchive(hostile, { '0': f32Bytes([1, 2, 3, 4]) }), 'hostile.bin', {}));
        throw new FuzzMismatch('a hostile pickle was accepted');
      },
    });
  }

  // The parser alone on mutated copies of the golden pickle (in a file, the CRC refuses these first).
  const pickleData = torch.subarray(pickle.localHeaderOffset + 30 + 32 + 66, pickle.localHeaderOffset + 30 + 32 + 66 + pickle.size);
  for (let i = 0; i < 120; i++) {
    const copy = pickleData.slice();
    const at = next(copy.length);
    copy[at] = next(256);
    cases.push({
      label: `pickle parser: byte ${at} → 0x${copy[at]!.toString(16)}`,
      run: async () => {
        const tensors = stateDictTensors(unpickle(copy, 'data.pkl'), 'data.pkl');
        for (const [name, ref] of tensors) {
          const valid = [ref.storageOffset, ref.storage.numel, ...ref.shape, ...ref.stride].every((n) => Number.isSafeInteger(n) && n >= 0);
          if (!valid || typeof name !== 'string') throw new FuzzMismatch(`the parser returned an invalid tensor ${String(name)}`);
        }
      },
    });
  }
  return cases;
}

export async function cases(): Promise<FuzzCase[]> {
  // The reference: every tensor of the unmutated safetensors (equal to the .bin's: test/io-checkpoint.test.ts).
  const golden = await openCheckpoint(mutated(safetensors, 'golden.safetensors', {}));
  const reference = new Map<string, Uint8Array>();
  for (const name of golden.tensors.keys()) reference.set(name, await golden.readBytes(name));
  const unmutated: FuzzCase[] = [
    { label: 'unmutated: the golden safetensors, converted', run: () => loadAndCheck(mutated(safetensors, 'model.safetensors', {}), reference, true) },
    { label: 'unmutated: the golden .bin, converted', run: () => loadAndCheck(mutated(torch, 'model.bin', {}), reference, true) },
  ];
  return [...unmutated, ...safetensorsCases(reference), ...torchCases(reference, await zipLayout())];
}
