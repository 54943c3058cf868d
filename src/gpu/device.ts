// Adapter and device acquisition: one function for browsers and for Node (Dawn).
import { WebGPUUnavailableError } from '../errors';

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
}

export interface GpuDeviceInfo {
  device: GPUDevice;
  adapter: AdapterSummary;
  /** Limits actually granted to the device (the adapter's real ones, not the defaults). */
  limits: GPUSupportedLimits;
  hasF16: boolean;
  hasTimestampQuery: boolean;
}

export interface AcquireOptions {
  /** The GPU entry point: `navigator.gpu` in browsers, Dawn's `create()` in Node. Defaults to `navigator.gpu`. */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /** Request `shader-f16` when the adapter has it (default true). */
  wantF16?: boolean;
}

// The limits we raise to the adapter's maximum: big weight tensors and roomy workgroups.
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  // `adapter.info` is standard; older implementations only had requestAdapterInfo().
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter),
  };
}

export function describeAdapter(a: AdapterSummary): string {
  const parts = [a.description || a.device, a.vendor, a.architecture].filter((s) => s.length > 0);
  return parts.join(' / ') || 'unknown adapter';
}

export async function acquireDevice(options: AcquireOptions = {}): Promise<GpuDeviceInfo> {
  const gpu = options.gpu ?? (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new WebGPUUnavailableError(
      'WebGPU is not available here. Use a browser with WebGPU (Chrome or Edge 113+, Safari 26+, Firefox 141+ on Windows) ' +
        'over https or localhost; in Node, install the `webgpu` package and a Vulkan driver.',
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new WebGPUUnavailableError(
      'WebGPU is present but no GPU adapter was found. Check that hardware acceleration is enabled ' +
        '(chrome://gpu) or, in Node, that a Vulkan driver (mesa-vulkan-drivers) is installed.',
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const value = adapter.limits[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  const hasF16 = (options.wantF16 ?? true) && adapter.features.has('shader-f16');
  const hasTimestampQuery = adapter.features.has('timestamp-query');
  const requiredFeatures: GPUFeatureName[] = [];
  if (hasF16) requiredFeatures.push('shader-f16');
  if (hasTimestampQuery) requiredFeatures.push('timestamp-query');
  // Subgroup operations let the CPU-adapter matmul share rows between lanes (src/kernels/matmul/cpu.ts).
  if (adapter.features.has('subgroups' as GPUFeatureName)) requiredFeatures.push('subgroups' as GPUFeatureName);
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  return { device, adapter: summarizeAdapter(adapter), limits: device.limits, hasF16, hasTimestampQuery };
}
