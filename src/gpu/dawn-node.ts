// Node: Dawn's bindings (the `webgpu` npm package) stand in for navigator.gpu.
// COCA_DAWN_FLAGS overrides Dawn's options, e.g. "backend=vulkan,adapter=llvmpipe".
import { create, globals } from 'webgpu';

// Dawn's instance must outlive every device made from it: if the GPU object is garbage-collected,
// Dawn's event processing runs on a destroyed instance and the process aborts. So keep them all.
const instances = new Map<string, GPU>();

export function nodeGpu(flags?: string[]): GPU {
  if (instances.size === 0) {
    // GPUBufferUsage, GPUMapMode, ... are globals in browsers; Dawn exports them separately.
    Object.assign(globalThis, globals);
  }
  const fromEnv = process.env.COCA_DAWN_FLAGS?.split(',').map((s) => s.trim()).filter(Boolean);
  // Dawn rounds timestamps to 65.536 µs by default (a browser privacy measure), too coarse to time one
  // dispatch; Node has no such concern. Given first, so flags that set disable-dawn-features replace it.
  const options = ['disable-dawn-features=timestamp_quantization', ...(flags ?? fromEnv ?? [])];
  const key = options.join(',');
  let gpu = instances.get(key);
  if (!gpu) {
    gpu = create(options);
    instances.set(key, gpu);
  }
  return gpu;
}
