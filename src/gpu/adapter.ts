// What the adapter and device are, decided once: kernels read these facts instead of re-deriving them.
import type { AdapterSummary, GpuDeviceInfo } from './device';

/** The subgroup size the CPU kernels' broadcasts assume (one AVX2 register of f32 on llvmpipe). */
export const CPU_SUBGROUP_LANES = 8;

export interface AdapterFacts {
  /**
   * Shaders run on the CPU (Mesa llvmpipe, SwiftShader, WARP): workgroup memory and barriers are emulated
   * there, so kernels take their barrier-free, register-blocked variants.
   */
  readonly cpu: boolean;
  /** The device has `shader-f16` (f16 arithmetic may be asked for). */
  readonly f16: boolean;
  /** The device has `subgroups`; null otherwise. */
  readonly subgroups: { readonly min: number; readonly max: number } | null;
  /** Subgroups of exactly CPU_SUBGROUP_LANES lanes: what the CPU kernels' broadcast variants need. */
  readonly eightLaneSubgroups: boolean;
  readonly timestampQuery: boolean;
  /** Limits granted to the device (the adapter's, for the ones acquireDevice raises). */
  readonly limits: GPUSupportedLimits;
}

/**
 * Whether the adapter runs shaders on the CPU. Dawn reports Mesa's llvmpipe as a fallback adapter of
 * architecture 'software' and Chrome's SwiftShader as architecture 'swiftshader'; the names catch
 * adapters that report less.
 */
export function isCpuAdapter({ adapter: a }: { adapter: AdapterSummary }): boolean {
  if (a.isFallbackAdapter || a.architecture === 'software' || a.architecture === 'swiftshader') return true;
  return /llvmpipe|lavapipe|swiftshader|basic render driver|\bwarp\b/i.test(`${a.description} ${a.device} ${a.vendor}`);
}

export function adapterFacts(info: GpuDeviceInfo): AdapterFacts {
  const features = info.device.features;
  // Dawn reports the subgroup sizes on the device's adapterInfo; browsers that lack it report none.
  const sizes = (info.device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const subgroups = features.has('subgroups') && sizes?.subgroupMinSize ? { min: sizes.subgroupMinSize, max: sizes.subgroupMaxSize ?? sizes.subgroupMinSize } : null;
  return {
    cpu: isCpuAdapter(info),
    f16: features.has('shader-f16'),
    subgroups,
    eightLaneSubgroups: subgroups?.min === CPU_SUBGROUP_LANES && subgroups.max === CPU_SUBGROUP_LANES,
    timestampQuery: features.has('timestamp-query'),
    limits: info.limits,
  };
}
