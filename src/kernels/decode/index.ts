// Decoding kernels: what a caption step does after the decoder's logits, all on the GPU so that the token
// chosen at one step feeds the next without the host — the normaliser and the repetition penalty on the
// logit rows (scores.ts), the next token of greedy decoding and sampling (pick.ts), beam search's step
// (beam.ts) and its cache reorder (reorder.ts). Top-k itself is kernels/topk.ts.
export { logSumExp, repetitionPenalty } from './scores';
export { gatherRows } from './reorder';
export { pickToken } from './pick';
export { beamSelect, parseBeamRecord, BEAM_RECORD_WORDS, type BeamRecord } from './beam';
