// Reads that trail the GPU: a copy of a tensor's range into a staging buffer of its own, queued behind the
// work already submitted and mapped without holding up later submits (Recorder.read maps the shared staging
// buffer inside the GPU lock, so nothing can be queued until it is read). Caption decoding reads the tokens
// of steps k… this way while the GPU runs the steps after them.
import { GpuError } from '../errors';
import type { Gpu } from './gpu';
import type { Tensor } from './tensor';

export interface TrailingRead {
  /** Waits for the copy (a host wait, counted in GpuStats.hostWaits) and returns its bytes. */
  bytes(): Promise<ArrayBuffer>;
}

interface Slot {
  readonly buffer: GPUBuffer;
  /** Settles once the slot's last read is mapped, copied out and unmapped (or failed): it may be reused. */
  idle: Promise<void>;
  busy: boolean;
}

export class TrailingReads {
  private readonly slots: Slot[];
  private next = 0;

  /** `count` reads may be in flight at once, each of at most `byteLength` bytes. */
  constructor(
    private readonly gpu: Gpu,
    count: number,
    readonly byteLength: number,
    private readonly label: string,
  ) {
    this.slots = Array.from({ length: count }, (_, i) => ({
      buffer: gpu.createBuffer('staging', byteLength, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `${label}.${i}`),
      idle: Promise.resolve(),
      busy: false,
    }));
  }

  /**
   * Queues a copy of `byteLength` bytes of `tensor` from `byteOffset` after everything submitted so far and
   * starts mapping it. Slots are used in turn; one whose previous read is still in flight (a read that was
   * never waited for) is waited for first.
   */
  async start(tensor: Tensor, byteOffset: number, byteLength: number): Promise<TrailingRead> {
    if (byteLength > this.byteLength || byteOffset + byteLength > tensor.byteLength || byteOffset % 4 !== 0 || byteLength % 4 !== 0) {
      throw new GpuError(`${this.label}: bytes ${byteOffset}…${byteOffset + byteLength} of ${tensor.label} (${tensor.byteLength} bytes) are not a readable range of at most ${this.byteLength}`);
    }
    const slot = this.slots[this.next]!;
    this.next = (this.next + 1) % this.slots.length;
    if (slot.busy) this.gpu.stats.hostWaits++;
    await slot.idle;
    // The copy is submitted under the GPU lock (so it follows every pass submitted before); the map is
    // only started there, wrapped so that the lock is released at once.
    const { map } = await this.gpu.exclusive(async () => {
      this.gpu.checkHealthy();
      const encoder = this.gpu.device.createCommandEncoder({ label: this.label });
      encoder.copyBufferToBuffer(tensor.buffer, tensor.byteOffset + byteOffset, slot.buffer, 0, byteLength);
      this.gpu.device.queue.submit([encoder.finish()]);
      this.gpu.stats.submits++;
      return { map: slot.buffer.mapAsync(GPUMapMode.READ) };
    });
    const mapped = map.then(() => {
      const bytes = slot.buffer.getMappedRange(0, byteLength).slice(0);
      slot.buffer.unmap();
      return bytes;
    });
    slot.busy = true;
    slot.idle = mapped.then(
      () => void (slot.busy = false),
      () => void (slot.busy = false),
    );
    return {
      bytes: async () => {
        this.gpu.stats.hostWaits++;
        try {
          return await mapped;
        } catch (error) {
          this.gpu.checkHealthy();
          throw new GpuError(`${this.label}: reading ${tensor.label} back failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      },
    };
  }

  destroy(): void {
    for (const slot of this.slots) this.gpu.destroyBuffer('staging', slot.buffer);
  }
}
