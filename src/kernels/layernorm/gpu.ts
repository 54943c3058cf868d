// LayerNorm for GPUs (shaders/layernorm/gpu.wgsl): one workgroup per row, tree reductions.
import { cachedSpecs, readValues, type PipelineSpec } from '../../gpu/pipelines';
import { layerNormBindings, layerNormDefines, LayerNormParams, type LayerNormMode } from './params';

/** Narrow rows (CoCa-tiny's 48–64) waste most of a 256-thread workgroup; wide rows want all of it. */
export function layerNormWorkgroupSize(D: number): number {
  return D <= 128 ? 64 : 256;
}

export const layerNormGpuSpec = cachedSpecs(function layerNormGpuSpec(mode: LayerNormMode, f16Params: boolean, D: number): PipelineSpec {
  const dtype = f16Params ? 'f16x2' : 'f32';
  return {
    shader: 'layernorm/gpu',
    defines: layerNormDefines(mode),
    constants: { WG: layerNormWorkgroupSize(D) },
    uniforms: LayerNormParams,
    bindings: layerNormBindings(mode, 'f32', readValues('gamma', dtype), readValues('beta', dtype)),
  };
});
