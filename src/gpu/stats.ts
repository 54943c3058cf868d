// Counters of GPU object creation and work, exposed in coca.info and asserted in tests:
// after the first call of each kind, inference must create no buffer, bind group or pipeline.
export interface GpuStats {
  pipelinesCreated: number;
  /** Pipelines compiled during inference because `prepare` did not cover them. Should stay 0. */
  pipelinesCreatedLate: number;
  buffersCreated: number;
  bindGroupsCreated: number;
  submits: number;
  dispatches: number;
  /** Times the host awaited the GPU: every staging-buffer map, debug reads included (the bench counts them per caption). */
  hostWaits: number;
  /** Bytes in live GPU buffers, by purpose. */
  bytes: { weights: number; activations: number; uniforms: number; staging: number };
}

export function newStats(): GpuStats {
  return {
    pipelinesCreated: 0,
    pipelinesCreatedLate: 0,
    buffersCreated: 0,
    bindGroupsCreated: 0,
    submits: 0,
    dispatches: 0,
    hostWaits: 0,
    bytes: { weights: 0, activations: 0, uniforms: 0, staging: 0 },
  };
}
