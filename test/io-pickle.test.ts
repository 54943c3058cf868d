import { describe, expect, it } from 'vitest';
import { CheckpointFormatError, PickleError, TruncatedFileError, UnsafePickleError } from '../src/errors';
import { PickleDict, stateDictTensors, TensorRef, unpickle } from '../src/io/pickle';
import { P, stateDictPickle, tupleOf, type PickledTensor } from './io-fixtures';

const bytes = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());
const ascii = (s: string): number[] => [...new TextEncoder().encode(s)];

/** Hostile inputs must fail fast; this is far above what a 1 MB pickle needs on a slow machine. */
const HOSTILE_TIME_LIMIT_MS = 2000;

const TENSORS: PickledTensor[] = [
  { key: 'logit_scale', storageKey: '0', storageNumel: 1, shape: [] },
  { key: 'visual.proj', storageKey: '1', storageNumel: 12, shape: [3, 4], parameter: true },
  { key: 'text.cls_emb', storageKey: '2', storageType: 'HalfStorage', storageNumel: 300, offset: 7, shape: [5] },
  { key: 'big', storageKey: '3', storageType: 'BFloat16Storage', storageNumel: 70000, offset: 4000, shape: [2, 300, 100] },
];

function expectTensors(map: Map<string, TensorRef>): void {
  expect([...map.keys()]).toEqual(TENSORS.map((t) => t.key));
  const simple = [...map.values()].map((t) => ({
    dtype: t.storage.dtype,
    key: t.storage.key,
    numel: t.storage.numel,
    location: t.storage.location,
    offset: t.storageOffset,
    shape: t.shape,
    stride: t.stride,
  }));
  expect(simple).toEqual([
    { dtype: 'F32', key: '0', numel: 1, location: 'cpu', offset: 0, shape: [], stride: [] },
    { dtype: 'F32', key: '1', numel: 12, location: 'cpu', offset: 0, shape: [3, 4], stride: [4, 1] },
    { dtype: 'F16', key: '2', numel: 300, location: 'cpu', offset: 7, shape: [5], stride: [1] },
    { dtype: 'BF16', key: '3', numel: 70000, location: 'cpu', offset: 4000, shape: [2, 300, 100], stride: [30000, 100, 1] },
  ]);
}

describe('state dict pickles', () => {
  it('reads a plain dict of tensors, parameters included', () => {
    expectTensors(stateDictTensors(unpickle(stateDictPickle(TENSORS)), 'test'));
  });

  it('reads an OrderedDict with its _metadata BUILD state', () => {
    expectTensors(stateDictTensors(unpickle(stateDictPickle(TENSORS, { ordered: true })), 'test'));
  });

  it('unwraps {"state_dict": ...} training checkpoints', () => {
    expectTensors(stateDictTensors(unpickle(stateDictPickle(TENSORS, { ordered: true, wrapKey: 'state_dict' })), 'test'));
  });

  it('reads memo references, LONG1 counts and floats', () => {
    const value = unpickle(
      bytes(
        P.proto(), P.emptyDict(), [0x71, 0], P.mark(),
        P.str('n'), [0x8a, 5, 0x00, 0x00, 0x00, 0x00, 0x01], // LONG1 2^32
        P.str('neg'), [0x8a, 1, 0xff], // LONG1 -1
        P.str('lr'), [0x47, ...new Uint8Array(new Float64Array([0.5]).buffer).reverse()], // BINFLOAT, big-endian
        P.str('self'), [0x68, 0], // BINGET 0: the dict itself
        P.str('t'), tupleOf(P.int(1), P.none(), [0x88]),
        P.setitems(), P.stop(),
      ),
    );
    expect(value).toBeInstanceOf(PickleDict);
    const dict = value as PickleDict;
    expect(dict.entries.get('n')).toBe(2 ** 32);
    expect(dict.entries.get('neg')).toBe(-1);
    expect(dict.entries.get('lr')).toBe(0.5);
    expect(dict.entries.get('self')).toBe(dict);
  });

  it('rejects a state dict entry that is not a tensor, naming it', () => {
    const pickle = bytes(P.proto(), P.emptyDict(), P.str('epoch'), P.int(3), P.setitem(), P.stop());
    expect(() => stateDictTensors(unpickle(pickle), 'ckpt')).toThrow(/state dict entry epoch is a number, not a tensor/);
  });
});

describe('hostile pickles', () => {
  it('refuses os.system before anything can run', () => {
    // The classic payload: cos\nsystem\n(S'touch /tmp/pwned'\ntR.
    const payload = bytes(P.proto(), ascii('cos\nsystem\n'), P.str('touch /tmp/pwned'), [0x85], P.reduce(), P.stop());
    const error = catchError(() => unpickle(payload, 'evil.pkl'));
    expect(error).toBeInstanceOf(UnsafePickleError);
    expect((error as UnsafePickleError).globalName).toBe('os.system');
    expect(error.message).toMatch(/evil\.pkl asks for the Python global os\.system at offset 2/);
  });

  it('refuses builtins.eval hidden inside an allow-listed tensor rebuild', () => {
    const tensor = stateDictPickle([{ key: 'w', storageKey: '0', storageNumel: 1, shape: [1] }]);
    const evil = [...P.global('builtins', 'eval'), ...tupleOf(P.str('__import__("os")')), ...P.reduce()];
    // Replace the requires_grad flag (NEWFALSE) with a call to eval.
    const at = tensor.indexOf(0x89);
    const payload = Uint8Array.from([...tensor.subarray(0, at), ...evil, ...tensor.subarray(at + 1)]);
    expect(() => unpickle(payload)).toThrow(UnsafePickleError);
    expect(() => unpickle(payload)).toThrow(/builtins\.eval/);
  });

  it('refuses calling an allow-listed storage type', () => {
    const payload = bytes(P.proto(), P.global('torch', 'FloatStorage'), P.emptyTuple(), P.reduce(), P.stop());
    expect(() => unpickle(payload)).toThrow(/torch\.FloatStorage is a type marker and cannot be called/);
  });

  it('names an unknown opcode and its offset', () => {
    // INST (protocol 0 object construction) is never in a state dict.
    const payload = bytes(P.proto(), P.emptyDict(), ascii('ios\nsystem\n'), P.stop());
    const error = catchError(() => unpickle(payload, 'x.pkl'));
    expect(error).toBeInstanceOf(PickleError);
    expect((error as PickleError).code).toBe('unknown-opcode');
    expect((error as PickleError).offset).toBe(3);
    expect(error.message).toMatch(/unsupported pickle opcode INST \(0x69\) at offset 3/);
  });

  it('does not follow STACK_GLOBAL (protocol 4) around the GLOBAL allow-list', () => {
    const payload = bytes([0x80, 4], P.str('os'), P.str('system'), [0x93], P.stop());
    expect(() => unpickle(payload)).toThrow(/STACK_GLOBAL \(0x93\) at offset 20/);
  });

  it('stops a million nested MARKs quickly', () => {
    const payload = new Uint8Array(1_000_002).fill(0x28);
    payload.set(P.proto());
    const started = performance.now();
    expect(() => unpickle(payload)).toThrow(/nesting deeper than 1000 MARKs/);
    expect(performance.now() - started).toBeLessThan(HOSTILE_TIME_LIMIT_MS);
  });

  it('builds a 300k-deep nested list without recursion and reports it is not a state dict', () => {
    const depth = 300_000;
    const payload = new Uint8Array(2 + depth + (depth - 1) + 1);
    payload.set(P.proto());
    payload.fill(0x5d, 2, 2 + depth); // EMPTY_LIST
    payload.fill(0x61, 2 + depth, 2 + 2 * depth - 1); // APPEND
    payload[payload.length - 1] = 0x2e;
    const started = performance.now();
    const value = unpickle(payload);
    expect(() => stateDictTensors(value, 'deep')).toThrow(CheckpointFormatError);
    expect(() => stateDictTensors(value, 'deep')).toThrow(/deep holds a list of 1, not a state dict/);
    expect(performance.now() - started).toBeLessThan(HOSTILE_TIME_LIMIT_MS);
  });

  it('rejects a 4 GB string length without allocating it', () => {
    const payload = bytes(P.proto(), [0x58, 0xf0, 0xff, 0xff, 0xff], ascii('tiny'));
    const error = catchError(() => unpickle(payload));
    expect(error).toBeInstanceOf(TruncatedFileError);
    expect(error.message).toMatch(/ends inside BINUNICODE \(0x58\) at offset 2 \(needs 4294967280 more bytes, 4 left\)/);
  });

  it('rejects a negative BINSTRING length, a 255-byte integer, and an unset memo slot', () => {
    expect(() => unpickle(bytes(P.proto(), [0x54, 0xff, 0xff, 0xff, 0xff], P.stop()))).toThrow(/negative string length -1/);
    expect(() => unpickle(bytes(P.proto(), [0x8a, 255], new Array<number>(255).fill(0x7f), P.stop()))).toThrow(/too large/);
    expect(() => unpickle(bytes(P.proto(), [0x6a, 0xff, 0xff, 0xff, 0x7f], P.stop()))).toThrow(/memo entry 2147483647 was never stored/);
  });

  it('fails with TruncatedFileError at every cut of a valid state dict pickle', () => {
    const pickle = stateDictPickle(TENSORS, { ordered: true });
    const outcomes = new Set<string>();
    for (let cut = 0; cut < pickle.byteLength; cut++) {
      outcomes.add(catchError(() => unpickle(pickle.subarray(0, cut))).name);
    }
    expect([...outcomes]).toEqual(['TruncatedFileError']);
  });
});

function catchError(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}
