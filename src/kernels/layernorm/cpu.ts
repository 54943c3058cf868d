// LayerNorm for CPU adapters (shaders/layernorm/cpu.wgsl): one invocation per row, no barriers.
import { cachedSpecs, read, readValues, type PipelineSpec } from '../../gpu/pipelines';
import { layerNormBindings, layerNormDefines, LayerNormParams, type LayerNormMode } from './params';

/**
 * Rows per workgroup of the CPU kernel: one SIMD batch of lanes (8 f32 on AVX2), so a few dozen rows
 * still make several workgroups to spread over the cores (16 and 64 measured no faster on llvmpipe).
 */
export const CPU_ROWS_PER_GROUP = 8;

/** Rows of width D % 4 == 0 are read as vec4s (γ and β as vec4s, or 4 fp16 values in a vec2<u32>). */
export const layerNormCpuSpec = cachedSpecs(function layerNormCpuSpec(mode: LayerNormMode, f16Params: boolean, D: number): PipelineSpec {
  const vec4 = D % 4 === 0;
  const dtype = f16Params ? 'f16x2' : 'f32';
  const params = (name: string) => (vec4 ? read(name, f16Params ? 'vec2<u32>' : 'vec4<f32>') : readValues(name, dtype));
  return {
    shader: 'layernorm/cpu',
    defines: { ...layerNormDefines(mode), VEC4: vec4, F16_PARAMS: f16Params },
    constants: { WG: CPU_ROWS_PER_GROUP },
    uniforms: LayerNormParams,
    bindings: layerNormBindings(mode, vec4 ? 'vec4<f32>' : 'f32', params('gamma'), params('beta')),
  };
});
