// Is WebGPU usable here? Checked before anything else so an unsupported browser gets an explanation, not a
// blank page or a stack trace.
export type WebGpuSupport =
  | { ok: true; adapterDescription: string }
  | { ok: false; reason: 'insecure-context' | 'no-api' | 'no-adapter' | 'error'; detail: string };

export async function checkWebGpu(): Promise<WebGpuSupport> {
  if (!window.isSecureContext) {
    return { ok: false, reason: 'insecure-context', detail: 'WebGPU is only available on pages served over HTTPS (or from localhost).' };
  }
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return { ok: false, reason: 'no-api', detail: 'This browser has no WebGPU (navigator.gpu is missing).' };
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) {
      return {
        ok: false,
        reason: 'no-adapter',
        detail: 'This browser has WebGPU, but it offered no GPU adapter: the GPU or its driver may be blocked, or WebGPU is turned off.',
      };
    }
    const info = adapter.info;
    const adapterDescription = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'WebGPU adapter';
    return { ok: true, adapterDescription };
  } catch (error) {
    return { ok: false, reason: 'error', detail: `Asking for a GPU adapter failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}
