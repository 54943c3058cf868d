// What every pass of a loaded model works with. CocaModel is one; the caption decoding and the diagnostics
// take this instead of the model class, so they stay small and free of import cycles.
import type { Gpu } from '../gpu/gpu';
import type { Recorder } from '../gpu/recorder';
import type { Tensor } from '../gpu/tensor';
import type { Activations } from './activations';
import type { Ctx } from './blocks';
import type { CocaConfig } from './config';
import type { CocaWeights } from './weights';

export interface ModelParts {
  readonly gpu: Gpu;
  readonly config: CocaConfig;
  readonly weights: CocaWeights;
  readonly act: Activations;
  /** The pooler's projected queries [Q, E], computed once at load. */
  readonly poolerQueries: Tensor;
  /** What the record* functions take: the recorder plus the weights, the arena and the arithmetic. */
  ctx(rec: Recorder): Ctx;
}
