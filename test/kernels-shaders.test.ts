// The shader toolchain every kernel goes through: #include, binding declarations generated from the
// pipeline spec, tensors bound by name in spec order.
import { describe, expect, it } from 'vitest';
import { bindingDeclarations, bindingsFor, read, readValues, write, type PipelineSpec } from '../src/gpu/pipelines';
import { libraryFromRecord } from '../src/gpu/shader-library';
import { nodeShaders } from '../src/gpu/shaders-node';
import type { Tensor } from '../src/gpu/tensor';
import { defineUniforms } from '../src/gpu/uniforms';
import { preprocessWgsl } from '../src/gpu/wgsl';
import { testGpu } from './helpers/gpu';

const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');

describe('preprocessWgsl', () => {
  const library = libraryFromRecord({
    'lib/a': 'fn a() {}\n#include lib/b',
    'lib/b': '#if FAST\nfn b_fast() {}\n#else\nfn b_slow() {}\n#endif',
  });
  const resolve = (name: string): string => library.source(name);

  it('includes each file once, with the includer’s flags, and skips includes in inactive branches', () => {
    const source = '#include lib/a\n#include lib/b\n#if !FAST\n#include lib/missing\n#endif\nfn main() { let n = {{N}}u; }';
    expect(lines(preprocessWgsl(source, { FAST: true, N: 7 }, 'main', resolve))).toEqual(['fn a() {}', 'fn b_fast() {}', 'fn main() { let n = 7u; }']);
  });

  it('names the file and line of a bad directive, and an include without a library', () => {
    expect(() => preprocessWgsl('x\n#if UNKNOWN\n#endif', {}, 'k')).toThrow('k:2: flag UNKNOWN is not defined');
    expect(() => preprocessWgsl('#include lib/a', {}, 'k')).toThrow('k:1: #include lib/a needs a shader library');
    expect(() => preprocessWgsl('#include lib/nope', {}, 'k', resolve)).toThrow(/no shader named "lib\/nope"/);
  });
});

describe('bindings generated from the pipeline spec', () => {
  const Params = defineUniforms({ M: 'u32', scale: 'f32' });
  const spec: PipelineSpec = {
    shader: 'test/kernel',
    uniforms: Params,
    bindings: [read('x', 'vec4<f32>'), readValues('w', 'f16x2'), readValues('b', 'f32'), write('y')],
    enables: ['f16'],
  };

  it('declares the enables, the uniform struct and every binding in order, with element accessors', () => {
    expect(lines(bindingDeclarations(spec))).toEqual([
      'enable f16;',
      '// Bindings generated from the pipeline spec of test/kernel.',
      'struct Params {',
      '  M: u32,',
      '  scale: f32,',
      '}',
      '@group(0) @binding(0) var<uniform> params: Params;',
      '@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;',
      '@group(0) @binding(2) var<storage, read> w: array<u32>;',
      '@group(0) @binding(3) var<storage, read> b: array<f32>;',
      '@group(0) @binding(4) var<storage, read_write> y: array<f32>;',
      'fn w_at(i: u32) -> f32 { return unpack2x16float(w[i >> 1u])[i & 1u]; }',
      'fn b_at(i: u32) -> f32 { return b[i]; }',
    ]);
  });

  it('orders tensors given by name as the spec declares them, and refuses missing or unknown names', () => {
    const tensor = (label: string): Tensor => ({ label }) as Tensor;
    const [x, w, b, y] = ['x', 'w', 'b', 'y'].map(tensor) as [Tensor, Tensor, Tensor, Tensor];
    expect(bindingsFor(spec, { y, b, x, w }).map((t) => t.label)).toEqual(['x', 'w', 'b', 'y']);
    expect(() => bindingsFor(spec, { x, w, y })).toThrow('[test/kernel] binding b was not given a tensor');
    expect(() => bindingsFor(spec, { x, w, b, y, z: x })).toThrow('[test/kernel] no binding named z');
  });

  it('the matmul epilogue snippet with its nested GELU include compiles on the device', async () => {
    const gpu = await testGpu();
    const shaders = nodeShaders();
    const code = preprocessWgsl(shaders.source('lib/matmul_epilogue'), { BIAS: false, GELU: true, ACCUMULATE: false }, 'lib/matmul_epilogue', (n) => shaders.source(n));
    const module = gpu.device.createShaderModule({
      code: `struct Params { biasOffset: u32 }\n@group(0) @binding(0) var<uniform> params: Params;\n@group(0) @binding(1) var<storage, read_write> y: array<f32>;\n${code}\n@compute @workgroup_size(1) fn main() { store_output(1.0, 0u, 0u); }`,
    });
    const info = await module.getCompilationInfo();
    expect(info.messages.filter((m) => m.type === 'error').map((m) => m.message)).toEqual([]);
  });
});
