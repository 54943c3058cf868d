// CoCa model configs: OpenCLIP's JSON (a hub repo's open_clip_config.json, or a model_configs/*.json
// preset) parsed into the numbers the runtime needs, and the tensor list those numbers imply. Every
// setting that would change the computation is checked: a config asking for something this runtime does
// not implement is refused by name instead of producing a model that silently computes something else.
// Every dimension is bounded (CONFIG_LIMITS) as it is read, before any tensor list is built or anything is
// allocated from it, so `layers: 1e9` fails at once, naming the field and the file.

import { ModelConfigError, ModelFormatError } from '../errors';
import type { TensorInfo } from '../io/tensor-info';
import { ATTENTION_MAX_HEAD_DIM, ATTENTION_MAX_KEYS } from '../kernels/attention';

export interface VisionConfig {
  imageSize: number;
  patchSize: number;
  width: number;
  layers: number;
  /** width / headWidth. */
  heads: number;
  headWidth: number;
  mlpRatio: number;
  /** Attentional pooler queries: 1 for the embedding + the image tokens the decoder attends to. */
  poolerQueries: number;
  poolerHeads: number;
}

export interface TextConfig {
  /** Token positions; the class token adds one more position. */
  contextLength: number;
  vocabSize: number;
  width: number;
  heads: number;
  layers: number;
  mlpRatio: number;
}

export interface DecoderConfig {
  contextLength: number;
  vocabSize: number;
  width: number;
  heads: number;
  layers: number;
  mlpRatio: number;
}

export type Rgb = [number, number, number];

export interface PreprocessConfig {
  mean: Rgb;
  std: Rgb;
  interpolation: 'bicubic' | 'bilinear' | 'nearest';
  resizeMode: 'shortest' | 'longest' | 'squash';
  /** OpenCLIP's fill_color: the 0–255 value of every channel of the padding a 'longest' resize adds. */
  fillColor: number;
}

export interface CocaConfig {
  /** Preset name or the file the config came from, for messages. */
  name: string;
  /** Width of the contrastive embeddings, the pooler and the decoder. */
  embedDim: number;
  vision: VisionConfig;
  text: TextConfig;
  decoder: DecoderConfig;
  preprocess: PreprocessConfig;
}

/**
 * Bounds on every dimension, checked as the config is read. The real CoCa configs sit far inside them
 * (coca_ViT-L-14: 24 layers, width 1024, MLP 4096, 257 image tokens, 77 text positions, 49,408 tokens);
 * sequence lengths and head widths are what the attention kernel runs (ATTENTION_MAX_KEYS,
 * ATTENTION_MAX_HEAD_DIM).
 */
export const CONFIG_LIMITS = {
  layers: 256,
  width: 16384,
  /** width × mlp_ratio. */
  mlpWidth: 65536,
  heads: 1024,
  headWidth: ATTENTION_MAX_HEAD_DIM,
  vocabSize: 1 << 20,
  /** Text positions; the class token adds one more key. */
  contextLength: ATTENTION_MAX_KEYS - 1,
  imageSize: 4096,
  /** (image_size / patch_size)² patches plus the class token: the keys of the vision tower's attention. */
  imageTokens: ATTENTION_MAX_KEYS,
  /** One embedding query plus the image tokens the decoder attends to (its cross-attention keys). */
  poolerQueries: ATTENTION_MAX_KEYS + 1,
  /** All weights: 2^32 parameters are 8 GiB even as fp16, beyond any GPU a page gets (ViT-L-14 CoCa: 638 M). */
  parameters: 2 ** 32,
} as const;

/** Longest config text read: OpenCLIP's are under 2 KB. */
export const MAX_CONFIG_CHARS = 1 << 20;

/** OpenAI CLIP's normalisation, OpenCLIP's default when a config names none. */
const OPENAI_MEAN: Rgb = [0.48145466, 0.4578275, 0.40821073];
const OPENAI_STD: Rgb = [0.26862954, 0.26130258, 0.27577711];

/**
 * OpenCLIP's src/open_clip/model_configs/coca_ViT-B-32.json and coca_ViT-L-14.json (v2.24), verbatim.
 * Parsed through the same path as a hub config so the defaults are applied in one place.
 */
const PRESET_JSON = {
  'coca_ViT-B-32': {
    embed_dim: 512,
    vision_cfg: { image_size: 224, layers: 12, width: 768, patch_size: 32, attentional_pool: true, attn_pooler_heads: 8, output_tokens: true },
    text_cfg: { context_length: 76, vocab_size: 49408, width: 512, heads: 8, layers: 12, embed_cls: true, output_tokens: true },
    multimodal_cfg: { context_length: 76, vocab_size: 49408, width: 512, heads: 8, layers: 12, attn_pooler_heads: 8 },
    custom_text: true,
  },
  'coca_ViT-L-14': {
    embed_dim: 768,
    vision_cfg: { image_size: 224, layers: 24, width: 1024, patch_size: 14, attentional_pool: true, attn_pooler_heads: 8, output_tokens: true },
    text_cfg: { context_length: 76, vocab_size: 49408, width: 768, heads: 12, layers: 12, embed_cls: true, output_tokens: true },
    multimodal_cfg: { context_length: 76, vocab_size: 49408, width: 768, heads: 12, layers: 12, attn_pooler_heads: 12 },
    custom_text: true,
  },
} as const;

export type PresetName = keyof typeof PRESET_JSON;
export const PRESET_NAMES = Object.keys(PRESET_JSON) as PresetName[];

/** A built-in config by OpenCLIP model name. */
export function presetConfig(name: PresetName): CocaConfig {
  const json = PRESET_JSON[name];
  if (!json) throw new ModelConfigError(`no built-in config ${String(name)}; known: ${PRESET_NAMES.join(', ')}`);
  return parseOpenClipConfig(json, name);
}

/**
 * A config file's text (as fetched or read) → the config; a file that is not JSON, or is too long to be a
 * config, fails with ModelConfigError naming the file.
 */
export function parseConfigText(text: string, fileName: string): CocaConfig {
  if (text.length > MAX_CONFIG_CHARS) {
    throw new ModelConfigError(`${fileName} is ${text.length} characters long; an OpenCLIP config is a few KB: is it the right file?`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelConfigError(`${fileName} is not valid JSON (${(error as Error).message}): fix or replace the file`);
  }
  return parseOpenClipConfig(json, fileName);
}

/**
 * Parses a hub `open_clip_config.json` ({ model_cfg, preprocess_cfg }) or a bare OpenCLIP model config.
 * Throws ModelConfigError for anything that is not a CoCa this runtime computes exactly.
 */
export function parseOpenClipConfig(json: unknown, name = 'open_clip_config.json'): CocaConfig {
  const root = new Section(json, name, name);
  const wrapped = root.has('model_cfg');
  const model = wrapped ? root.section('model_cfg') : root;
  const preprocessSection = wrapped && root.has('preprocess_cfg') ? root.section('preprocess_cfg') : null;
  if (wrapped) root.finish();

  if (!model.has('multimodal_cfg')) {
    throw new ModelConfigError(`${name} has no multimodal_cfg: it describes a CLIP-style model, not CoCa`);
  }
  const embedDim = model.positiveInt('embed_dim', CONFIG_LIMITS.width);
  model.mustBe('quick_gelu', [false], 'QuickGELU activations (only exact GELU is implemented)');
  model.mustBe('init_logit_bias', [null], 'a learned logit bias (SigLIP-style)');
  model.mustBe('pad_id', [0], 'a padding token other than 0');
  model.ignore('custom_text', 'cast_dtype', 'init_logit_scale', 'output_dict', 'nonscalar_logit_scale');

  const vision = parseVision(model.section('vision_cfg'));
  const text = parseText(model.section('text_cfg'));
  const decoder = parseDecoder(model.section('multimodal_cfg'));
  model.finish();

  const preprocess = parsePreprocess(preprocessSection, vision.imageSize);

  // The pooler emits embedDim-wide image tokens and the decoder attends to them without a projection, and
  // the decoder consumes the text tower's token outputs: OpenCLIP's CoCa only runs when these widths agree.
  if (decoder.width !== embedDim || text.width !== decoder.width) {
    throw new ModelConfigError(
      `${name}: CoCa needs embed_dim (${embedDim}) = text width (${text.width}) = multimodal width (${decoder.width})`,
    );
  }
  if (decoder.vocabSize !== text.vocabSize) {
    throw new ModelConfigError(`${name}: text vocab_size ${text.vocabSize} differs from multimodal vocab_size ${decoder.vocabSize}`);
  }
  if (embedDim % vision.poolerHeads !== 0) {
    throw new ModelConfigError(`${name}: embed_dim ${embedDim} is not divisible by attn_pooler_heads ${vision.poolerHeads}`);
  }
  if (embedDim / vision.poolerHeads > CONFIG_LIMITS.headWidth) {
    throw new ModelConfigError(
      `${name}: the attentional pooler's heads are ${embedDim / vision.poolerHeads} wide (embed_dim / attn_pooler_heads); ` +
        `the attention kernel takes at most ${CONFIG_LIMITS.headWidth}`,
    );
  }
  const config = { name, embedDim, vision, text, decoder, preprocess };
  // Every dimension is bounded by now, so the list is at most a few thousand entries.
  const parameters = parameterCount(config);
  if (parameters > CONFIG_LIMITS.parameters) {
    throw new ModelConfigError(`${name}: the model would have ${parameters} parameters, more than the ${CONFIG_LIMITS.parameters} this runtime loads`);
  }
  return config;
}

/** Number of weights a config implies. */
export function parameterCount(config: CocaConfig): number {
  let total = 0;
  for (const shape of expectedTensors(config).values()) total += shape.reduce((a, b) => a * b, 1);
  return total;
}

/** OpenCLIP's ResidualAttentionBlock: mlp_width = int(width * mlp_ratio). */
function mlpWidth(width: number, mlpRatio: number): number {
  return Math.trunc(width * mlpRatio);
}

function parseVision(s: Section): VisionConfig {
  const imageSize = s.squareSize('image_size', CONFIG_LIMITS.imageSize, 224);
  const patchSize = s.positiveInt('patch_size', CONFIG_LIMITS.imageSize, 16);
  const width = s.positiveInt('width', CONFIG_LIMITS.width, 768);
  const headWidth = s.positiveInt('head_width', CONFIG_LIMITS.headWidth, 64);
  const config: VisionConfig = {
    imageSize,
    patchSize,
    width,
    layers: s.positiveInt('layers', CONFIG_LIMITS.layers, 12),
    heads: width / headWidth,
    headWidth,
    mlpRatio: s.mlpRatio(width),
    poolerQueries: s.positiveInt('attn_pooler_queries', CONFIG_LIMITS.poolerQueries, 256),
    poolerHeads: s.positiveInt('attn_pooler_heads', CONFIG_LIMITS.heads, 8),
  };
  if (imageSize % patchSize !== 0) s.fail(`image_size ${imageSize} is not a multiple of patch_size ${patchSize}`);
  const tokens = (imageSize / patchSize) ** 2 + 1;
  if (tokens > CONFIG_LIMITS.imageTokens) {
    s.fail(`image_size ${imageSize} / patch_size ${patchSize} makes ${tokens} image tokens; the attention kernel takes at most ${CONFIG_LIMITS.imageTokens}`);
  }
  if (width % headWidth !== 0) s.fail(`width ${width} is not a multiple of head_width ${headWidth}`);
  if (config.poolerQueries < 2) s.fail('attn_pooler_queries must be at least 2 (one embedding query plus image tokens)');
  s.mustBe('attentional_pool', [true], 'a vision tower without the attentional pooler (CoCa needs attentional_pool: true)', false);
  s.mustBe('ls_init_value', [null], 'layer scale (ls_init_value)');
  s.mustBe('no_ln_pre', [false], 'removing ln_pre');
  s.mustBe('final_ln_after_pool', [false], 'final_ln_after_pool');
  s.mustBe('pool_type', ['tok'], 'a pool_type other than "tok"');
  s.mustBe('pos_embed_type', ['learnable'], 'non-learnable positional embeddings');
  s.mustBe('global_average_pool', [false], 'global average pooling');
  s.mustBe('input_patchnorm', [false], 'input patch norm');
  s.mustBe('timm_model_name', [null], 'a timm vision tower');
  s.mustBeEmpty('act_kwargs', 'activation arguments');
  s.mustBeEmpty('norm_kwargs', 'normalization arguments');
  s.mustBe('act_layer', ['gelu'], 'an activation other than exact GELU');
  // output_tokens is how CoCa asks for the image tokens (always on here); patch_dropout only acts in training.
  s.ignore('output_tokens', 'patch_dropout', 'timm_model_pretrained', 'timm_pool', 'timm_proj', 'timm_proj_bias', 'timm_drop', 'timm_drop_path');
  s.finish();
  return config;
}

/** The dimensions the text tower and the multimodal decoder share, with OpenCLIP's CLIPTextCfg defaults. */
function sequenceTower(s: Section): TextConfig & DecoderConfig {
  const width = s.positiveInt('width', CONFIG_LIMITS.width, 512);
  const config = {
    contextLength: s.positiveInt('context_length', CONFIG_LIMITS.contextLength, 77),
    vocabSize: s.positiveInt('vocab_size', CONFIG_LIMITS.vocabSize, 49408),
    width,
    heads: s.positiveInt('heads', CONFIG_LIMITS.heads, 8),
    layers: s.positiveInt('layers', CONFIG_LIMITS.layers, 12),
    mlpRatio: s.mlpRatio(width),
  };
  s.checkHeads(config.width, config.heads);
  return config;
}

function parseText(s: Section): TextConfig {
  const config = sequenceTower(s);
  s.mustBe('embed_cls', [true], 'a text tower without the class token (CoCa needs embed_cls: true)');
  s.mustBe('pad_id', [0], 'a padding token other than 0');
  s.mustBe('ls_init_value', [null], 'layer scale (ls_init_value)');
  s.mustBe('no_causal_mask', [false], 'a text tower without the causal mask');
  s.mustBe('final_ln_after_pool', [false], 'final_ln_after_pool');
  s.mustBe('proj_bias', [false], 'a text projection bias');
  s.mustBe('proj_type', ['linear'], 'a text projection other than linear');
  s.mustBe('hf_model_name', [null], 'a Hugging Face text tower');
  s.mustBe('hf_tokenizer_name', [null, ''], 'a tokenizer other than CLIP BPE');
  s.mustBeEmpty('tokenizer_kwargs', 'tokenizer options');
  s.mustBeEmpty('act_kwargs', 'activation arguments');
  s.mustBeEmpty('norm_kwargs', 'normalization arguments');
  s.mustBe('act_layer', ['gelu'], 'an activation other than exact GELU');
  // With embed_cls the class token is always pooled ('last'), whatever pool_type says; hf_* settings only
  // matter with an hf_model_name, refused above.
  s.ignore('output_tokens', 'pool_type', 'hf_model_pretrained', 'hf_proj_type', 'hf_pooler_type');
  s.finish();
  return config;
}

function parseDecoder(s: Section): DecoderConfig {
  const config = sequenceTower(s);
  s.mustBe('ls_init_value', [null], 'layer scale (ls_init_value)');
  s.mustBeEmpty('act_kwargs', 'activation arguments');
  s.mustBeEmpty('norm_kwargs', 'normalization arguments');
  s.mustBe('act_layer', ['gelu'], 'an activation other than exact GELU');
  // MultimodalCfg inherits these from the text config or keeps them from older CoCa code; the decoder
  // (MultimodalTransformer) does not read them.
  s.ignore('attn_pooler_heads', 'n_queries', 'dim_head', 'output_tokens', 'embed_cls', 'pad_id', 'pool_type');
  s.finish();
  return config;
}

/** OpenCLIP v2.24's PreprocessCfg defaults. */
const DEFAULT_PREPROCESS: PreprocessConfig = {
  mean: OPENAI_MEAN,
  std: OPENAI_STD,
  interpolation: 'bicubic',
  resizeMode: 'shortest',
  fillColor: 0,
};

function parsePreprocess(s: Section | null, imageSize: number): PreprocessConfig {
  if (s === null) return { ...DEFAULT_PREPROCESS, mean: [...OPENAI_MEAN], std: [...OPENAI_STD] };
  const size = s.squareSize('size', CONFIG_LIMITS.imageSize, imageSize);
  if (size !== imageSize) s.fail(`size ${size} differs from the vision image_size ${imageSize}`);
  const preprocess: PreprocessConfig = {
    mean: s.rgb('mean', OPENAI_MEAN),
    std: s.rgb('std', OPENAI_STD),
    interpolation: s.oneOf('interpolation', ['bicubic', 'bilinear', 'nearest'] as const, DEFAULT_PREPROCESS.interpolation),
    resizeMode: s.oneOf('resize_mode', ['shortest', 'longest', 'squash'] as const, DEFAULT_PREPROCESS.resizeMode),
    fillColor: s.byteValue('fill_color', DEFAULT_PREPROCESS.fillColor),
  };
  if (preprocess.std.some((v) => v <= 0)) s.fail('std values must be positive');
  s.mustBe('mode', ['RGB'], 'an image mode other than RGB');
  s.finish();
  return preprocess;
}

/**
 * A config value for a message: JSON, cut short (a hostile value can be megabytes), with what JSON cannot
 * show (NaN, undefined, functions) spelled out.
 */
function showValue(value: unknown): string {
  if (typeof value === 'number' || value === undefined) return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** One JSON object of a config, read key by key; finish() refuses keys nobody looked at. */
class Section {
  private readonly object: Record<string, unknown>;
  private readonly seen = new Set<string>();

  constructor(
    value: unknown,
    private readonly path: string,
    private readonly configName: string,
  ) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ModelConfigError(`${configName}: ${path} must be a JSON object`);
    }
    this.object = value as Record<string, unknown>;
  }

  fail(what: string): never {
    throw new ModelConfigError(`${this.configName}: ${this.path}: ${what}`);
  }

  has(key: string): boolean {
    return Object.hasOwn(this.object, key);
  }

  private take(key: string): unknown {
    this.seen.add(key);
    return this.object[key];
  }

  section(key: string): Section {
    if (!this.has(key)) this.fail(`${key} is missing`);
    return new Section(this.take(key), key, this.configName);
  }

  /** An integer in 1…max. */
  positiveInt(key: string, max: number, fallback?: number): number {
    const value = this.has(key) ? this.take(key) : fallback;
    if (value === undefined) this.fail(`${key} is missing`);
    return this.checkInt(key, value, max);
  }

  /** mlp_ratio (default 4), such that the MLP of a `width`-wide block is 1…CONFIG_LIMITS.mlpWidth wide. */
  mlpRatio(width: number): number {
    const value = this.has('mlp_ratio') ? this.take('mlp_ratio') : 4;
    if (typeof value !== 'number' || !Number.isFinite(value) || !(value > 0)) this.fail(`mlp_ratio must be a positive number, got ${showValue(value)}`);
    const hidden = mlpWidth(width, value);
    if (hidden < 1 || hidden > CONFIG_LIMITS.mlpWidth) {
      this.fail(`mlp_ratio ${value} makes the MLP ${hidden} wide (width ${width}); it must be 1…${CONFIG_LIMITS.mlpWidth}`);
    }
    return value;
  }

  /** `heads` divides `width`, into heads the attention kernel can run. */
  checkHeads(width: number, heads: number): void {
    if (width % heads !== 0) this.fail(`width ${width} is not divisible by heads ${heads}`);
    if (width / heads > CONFIG_LIMITS.headWidth) {
      this.fail(`width ${width} / heads ${heads} makes ${width / heads}-wide heads; the attention kernel takes at most ${CONFIG_LIMITS.headWidth}`);
    }
  }

  /** An int, or a [h, w] pair that is square (non-square inputs are not implemented), in 1…max. */
  squareSize(key: string, max: number, fallback: number): number {
    const value = this.has(key) ? this.take(key) : fallback;
    if (Array.isArray(value) && value.length === 2 && value[0] === value[1]) return this.checkInt(key, value[0], max);
    if (Array.isArray(value)) this.fail(`${key} ${showValue(value)}: only square sizes are implemented`);
    return this.checkInt(key, value, max);
  }

  /** An integer 0…255 (a channel value). */
  byteValue(key: string, fallback: number): number {
    const value = this.has(key) ? this.take(key) : fallback;
    if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 255) {
      this.fail(`${key} must be an integer 0…255 (one value for every channel), got ${showValue(value)}`);
    }
    return value as number;
  }

  private checkInt(key: string, value: unknown, max: number): number {
    if (!Number.isSafeInteger(value) || (value as number) <= 0) this.fail(`${key} must be a positive integer, got ${showValue(value)}`);
    if ((value as number) > max) this.fail(`${key} ${showValue(value)} is more than the ${max} this runtime allows`);
    return value as number;
  }

  rgb(key: string, fallback: Rgb): Rgb {
    const value = this.has(key) ? this.take(key) : fallback;
    if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      this.fail(`${key} must be three numbers, got ${showValue(value)}`);
    }
    return [value[0], value[1], value[2]];
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const value = this.has(key) ? this.take(key) : fallback;
    if (!(allowed as readonly unknown[]).includes(value)) this.fail(`${key} must be one of ${allowed.join(', ')}, got ${showValue(value)}`);
    return value as T;
  }

  /**
   * A setting whose other values select a feature this runtime does not implement. `absent` is OpenCLIP's
   * default, for settings whose default is itself unsupported.
   */
  mustBe(key: string, allowed: readonly unknown[], feature: string, absent: unknown = allowed[0]): void {
    const value = this.has(key) ? this.take(key) : absent;
    if (!allowed.includes(value)) {
      const shown = this.has(key) ? showValue(value) : `absent (OpenCLIP's default ${showValue(value)})`;
      this.fail(`${key}: ${shown} asks for ${feature}, which is not implemented`);
    }
  }

  mustBeEmpty(key: string, feature: string): void {
    if (!this.has(key)) return;
    const value = this.take(key);
    const empty = value === null || (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0);
    if (!empty) this.fail(`${key}: ${showValue(value)} sets ${feature}, which are not implemented`);
  }

  /** Settings that do not change inference. */
  ignore(...keys: string[]): void {
    for (const key of keys) this.seen.add(key);
  }

  finish(): void {
    const unknown = Object.keys(this.object).filter((key) => !this.seen.has(key));
    if (unknown.length > 0) {
      this.fail(`unknown setting ${unknown.join(', ')}: this runtime does not know what it changes, so it will not guess`);
    }
  }
}

/**
 * Every tensor a CoCa model of this config has, with its shape, in OpenCLIP's state-dict order.
 * Linear weights are [out, in]; attention in_proj packs q, k, v along the first axis.
 */
export function expectedTensors(config: CocaConfig): Map<string, number[]> {
  const { embedDim: d, vision: v, text: t, decoder: m } = config;
  const tensors = new Map<string, number[]>();
  const add = (name: string, shape: number[]): void => void tensors.set(name, shape);
  const layerNorm = (prefix: string, width: number): void => {
    add(`${prefix}.weight`, [width]);
    add(`${prefix}.bias`, [width]);
  };
  const residualBlock = (prefix: string, width: number, mlpRatio: number, crossAttention: boolean): void => {
    const hidden = mlpWidth(width, mlpRatio);
    layerNorm(`${prefix}.ln_1`, width);
    add(`${prefix}.attn.in_proj_weight`, [3 * width, width]);
    add(`${prefix}.attn.in_proj_bias`, [3 * width]);
    add(`${prefix}.attn.out_proj.weight`, [width, width]);
    add(`${prefix}.attn.out_proj.bias`, [width]);
    if (crossAttention) layerNorm(`${prefix}.ln_1_kv`, width);
    layerNorm(`${prefix}.ln_2`, width);
    add(`${prefix}.mlp.c_fc.weight`, [hidden, width]);
    add(`${prefix}.mlp.c_fc.bias`, [hidden]);
    add(`${prefix}.mlp.c_proj.weight`, [width, hidden]);
    add(`${prefix}.mlp.c_proj.bias`, [width]);
  };

  add('logit_scale', [1]);

  add('text.cls_emb', [t.width]);
  add('text.positional_embedding', [t.contextLength + 1, t.width]);
  add('text.text_projection', [t.width, d]);
  add('text.token_embedding.weight', [t.vocabSize, t.width]);
  for (let i = 0; i < t.layers; i++) residualBlock(`text.transformer.resblocks.${i}`, t.width, t.mlpRatio, false);
  layerNorm('text.ln_final', t.width);

  const grid = v.imageSize / v.patchSize;
  add('visual.class_embedding', [v.width]);
  add('visual.positional_embedding', [grid * grid + 1, v.width]);
  add('visual.proj', [d, d]);
  add('visual.conv1.weight', [v.width, 3, v.patchSize, v.patchSize]);
  layerNorm('visual.ln_pre', v.width);
  for (let i = 0; i < v.layers; i++) residualBlock(`visual.transformer.resblocks.${i}`, v.width, v.mlpRatio, false);
  add('visual.attn_pool.query', [v.poolerQueries, d]);
  add('visual.attn_pool.attn.q_proj_weight', [d, d]);
  add('visual.attn_pool.attn.k_proj_weight', [d, v.width]);
  add('visual.attn_pool.attn.v_proj_weight', [d, v.width]);
  add('visual.attn_pool.attn.in_proj_bias', [3 * d]);
  add('visual.attn_pool.attn.out_proj.weight', [d, d]);
  add('visual.attn_pool.attn.out_proj.bias', [d]);
  layerNorm('visual.attn_pool.ln_q', d);
  layerNorm('visual.attn_pool.ln_k', v.width);
  layerNorm('visual.ln_post', d);

  add('text_decoder.text_projection', [m.width, m.vocabSize]);
  for (let i = 0; i < m.layers; i++) residualBlock(`text_decoder.resblocks.${i}`, m.width, m.mlpRatio, false);
  for (let i = 0; i < m.layers; i++) residualBlock(`text_decoder.cross_attn.${i}`, m.width, m.mlpRatio, true);
  layerNorm('text_decoder.ln_final', m.width);
  return tensors;
}

/** The dtypes the runtime can load; a hand-built index could carry anything. */
const LOADABLE_DTYPES: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16']);

/**
 * Checks that a checkpoint has every tensor the config needs, with the right shape. Throws a
 * ModelFormatError naming the first missing or mis-shaped tensor. Extra tensors (buffers) are ignored.
 */
export function validateCheckpoint(checkpoint: { tensors: ReadonlyMap<string, TensorInfo> }, config: CocaConfig): void {
  const looksLikeCoca = [...checkpoint.tensors.keys()].some((name) => name.startsWith('text_decoder.'));
  for (const [name, expected] of expectedTensors(config)) {
    const info = checkpoint.tensors.get(name);
    if (!info) {
      const hint = looksLikeCoca ? '' : ' (the checkpoint has no text_decoder.* tensors: it is not a CoCa model)';
      throw new ModelFormatError(`checkpoint lacks ${name} [${expected.join(', ')}], which ${config.name} needs${hint}`, name, expected);
    }
    if (!sameShape(info.shape, expected)) {
      throw new ModelFormatError(
        `checkpoint tensor ${name} has shape [${info.shape.join(', ')}] but ${config.name} expects [${expected.join(', ')}] ` +
          '(is it a checkpoint for another model size?)',
        name,
        expected,
        info.shape,
      );
    }
    if (!LOADABLE_DTYPES.has(info.dtype)) {
      throw new ModelFormatError(`checkpoint tensor ${name} has dtype ${String(info.dtype)}; F32, F16 or BF16 is needed`, name, expected, info.shape);
    }
  }
}

/** Shapes agree; a 0-d scalar also matches [1] (torch saves logit_scale as a 0-d tensor, some converters as [1]). */
function sameShape(actual: readonly number[], expected: readonly number[]): boolean {
  if (actual.length === 0 && expected.length === 1 && expected[0] === 1) return true;
  return actual.length === expected.length && actual.every((dim, i) => dim === expected[i]);
}
