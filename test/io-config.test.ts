import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelConfigError, ModelFormatError } from '../src/errors';
import { openCheckpoint, type Checkpoint, type TensorInfo } from '../src/io/checkpoint';
import { openFileSource, type FileSource } from '../src/io/source-node';
import {
  CONFIG_LIMITS,
  expectedTensors,
  MAX_CONFIG_CHARS,
  parameterCount,
  parseConfigText,
  parseOpenClipConfig,
  presetConfig,
  validateCheckpoint,
  type CocaConfig,
  type Rgb,
} from '../src/model/config';
import { GOLDEN_CONFIG, GOLDEN_SAFETENSORS, GOLDEN_TORCH } from './io-fixtures';

const hubJson = (): { model_cfg: Record<string, any>; preprocess_cfg: Record<string, unknown> } =>
  JSON.parse(readFileSync(GOLDEN_CONFIG, 'utf8'));

const OPENAI_MEAN: Rgb = [0.48145466, 0.4578275, 0.40821073];
const OPENAI_STD: Rgb = [0.26862954, 0.26130258, 0.27577711];

describe('parseOpenClipConfig', () => {
  it('reads the golden hub config', () => {
    expect(parseOpenClipConfig(hubJson())).toEqual({
      name: 'open_clip_config.json',
      embedDim: 48,
      vision: { imageSize: 64, patchSize: 16, width: 64, layers: 2, heads: 4, headWidth: 16, mlpRatio: 4, poolerQueries: 9, poolerHeads: 4 },
      text: { contextLength: 76, vocabSize: 49408, width: 48, heads: 4, layers: 2, mlpRatio: 4 },
      decoder: { contextLength: 76, vocabSize: 49408, width: 48, heads: 4, layers: 2, mlpRatio: 4 },
      preprocess: { mean: OPENAI_MEAN, std: OPENAI_STD, interpolation: 'bicubic', resizeMode: 'shortest', fillColor: 0 },
    } satisfies CocaConfig);
  });

  // docs/COCA.md's config table and parameter counts (253.6 M and 638.5 M).
  it('has coca_ViT-B-32 as OpenCLIP defines it', () => {
    const config = presetConfig('coca_ViT-B-32');
    expect(config.vision).toEqual({ imageSize: 224, patchSize: 32, width: 768, layers: 12, heads: 12, headWidth: 64, mlpRatio: 4, poolerQueries: 256, poolerHeads: 8 });
    expect(config.embedDim).toBe(512);
    expect(config.text).toEqual({ contextLength: 76, vocabSize: 49408, width: 512, heads: 8, layers: 12, mlpRatio: 4 });
    expect(config.decoder).toEqual({ contextLength: 76, vocabSize: 49408, width: 512, heads: 8, layers: 12, mlpRatio: 4 });
    expect(config.preprocess).toEqual({ mean: OPENAI_MEAN, std: OPENAI_STD, interpolation: 'bicubic', resizeMode: 'shortest', fillColor: 0 });
    expect(parameterCount(config)).toBe(253_560_065);
  });

  it('has coca_ViT-L-14 as OpenCLIP defines it', () => {
    const config = presetConfig('coca_ViT-L-14');
    expect(config.vision).toEqual({ imageSize: 224, patchSize: 14, width: 1024, layers: 24, heads: 16, headWidth: 64, mlpRatio: 4, poolerQueries: 256, poolerHeads: 8 });
    expect(config.embedDim).toBe(768);
    expect(config.text).toEqual({ contextLength: 76, vocabSize: 49408, width: 768, heads: 12, layers: 12, mlpRatio: 4 });
    expect(config.decoder).toEqual({ contextLength: 76, vocabSize: 49408, width: 768, heads: 12, layers: 12, mlpRatio: 4 });
    expect(parameterCount(config)).toBe(638_450_177);
  });

  const rejections: [string, (json: ReturnType<typeof hubJson>) => void, RegExp][] = [
    ['a CLIP config (no multimodal_cfg)', (j) => delete j.model_cfg.multimodal_cfg, /no multimodal_cfg: it describes a CLIP-style model, not CoCa/],
    ['QuickGELU', (j) => (j.model_cfg.quick_gelu = true), /quick_gelu: true asks for QuickGELU activations/],
    ['no attentional pooler', (j) => (j.model_cfg.vision_cfg.attentional_pool = false), /vision_cfg: attentional_pool: false asks for a vision tower without the attentional pooler/],
    ['a missing attentional_pool flag (OpenCLIP defaults it off)', (j) => delete j.model_cfg.vision_cfg.attentional_pool, /attentional_pool: absent \(OpenCLIP's default false\) asks for a vision tower without the attentional pooler/],
    ['another activation', (j) => (j.model_cfg.text_cfg.act_kwargs = { approximate: 'tanh' }), /text_cfg: act_kwargs: .* sets activation arguments, which are not implemented/],
    ['layer scale', (j) => (j.model_cfg.vision_cfg.ls_init_value = 0.1), /ls_init_value: 0\.1 asks for layer scale/],
    ['a Hugging Face text tower', (j) => (j.model_cfg.text_cfg.hf_model_name = 'roberta-base'), /hf_model_name: "roberta-base"/],
    ['no class token', (j) => (j.model_cfg.text_cfg.embed_cls = false), /embed_cls: false/],
    ['a timm vision tower', (j) => (j.model_cfg.vision_cfg.timm_model_name = 'convnext_base'), /a timm vision tower/],
    ['an unknown setting', (j) => (j.model_cfg.vision_cfg.rope = true), /vision_cfg: unknown setting rope/],
    ['mismatched decoder width', (j) => (j.model_cfg.multimodal_cfg.width = 64), /CoCa needs embed_dim \(48\) = text width \(48\) = multimodal width \(64\)/],
    ['a head width that does not divide the width', (j) => (j.model_cfg.vision_cfg.head_width = 24), /width 64 is not a multiple of head_width 24/],
    ['a non-square image', (j) => (j.model_cfg.vision_cfg.image_size = [64, 96]), /only square sizes/],
    ['a preprocess size that disagrees with the model', (j) => (j.preprocess_cfg.size = 224), /size 224 differs from the vision image_size 64/],
    ['a negative layer count', (j) => (j.model_cfg.text_cfg.layers = -2), /text_cfg: layers must be a positive integer, got -2/],
    ['a million layers', (j) => (j.model_cfg.vision_cfg.layers = 1e6), /^open_clip_config\.json: vision_cfg: layers 1000000 is more than the 256 this runtime allows$/],
    ['a billion decoder layers', (j) => (j.model_cfg.multimodal_cfg.layers = 1e9), /multimodal_cfg: layers 1000000000 is more than the 256/],
    ['a fractional width', (j) => (j.model_cfg.text_cfg.width = 48.5), /text_cfg: width must be a positive integer, got 48\.5/],
    ['a width given as a string', (j) => (j.model_cfg.vision_cfg.width = '64'), /vision_cfg: width must be a positive integer, got "64"/],
    ['a huge embed_dim', (j) => (j.model_cfg.embed_dim = 2 ** 40), /embed_dim 1099511627776 is more than the 16384/],
    ['fractional heads', (j) => (j.model_cfg.text_cfg.heads = 0.5), /heads must be a positive integer, got 0\.5/],
    ['one 256-wide text head', (j) => Object.assign(j.model_cfg.text_cfg, { width: 256, heads: 1 }), /text_cfg: width 256 \/ heads 1 makes 256-wide heads; the attention kernel takes at most 128/],
    ['a vision head_width above 128', (j) => (j.model_cfg.vision_cfg.head_width = 256), /head_width 256 is more than the 128/],
    ['too many image tokens for the attention kernel', (j) => Object.assign(j.model_cfg.vision_cfg, { image_size: 1024, patch_size: 16 }), /image_size 1024 \/ patch_size 16 makes 4097 image tokens; the attention kernel takes at most 2048/],
    ['a context longer than the attention kernel takes', (j) => (j.model_cfg.text_cfg.context_length = 4096), /text_cfg: context_length 4096 is more than the 2047/],
    ['a NaN-like mlp_ratio', (j) => (j.model_cfg.text_cfg.mlp_ratio = 'NaN'), /text_cfg: mlp_ratio must be a positive number, got "NaN"/],
    ['a huge mlp_ratio', (j) => (j.model_cfg.text_cfg.mlp_ratio = 1e12), /text_cfg: mlp_ratio 1000000000000 makes the MLP 48000000000000 wide/],
    ['a vocabulary of 2^40 tokens', (j) => Object.assign(j.model_cfg.text_cfg, { vocab_size: 2 ** 40 }), /text_cfg: vocab_size 1099511627776 is more than the 1048576/],
    ['an unknown interpolation', (j) => (j.preprocess_cfg.interpolation = 'lanczos'), /preprocess_cfg: interpolation must be one of bicubic, bilinear, nearest, got "lanczos"/],
    ['an unknown resize_mode', (j) => (j.preprocess_cfg.resize_mode = 'crop'), /preprocess_cfg: resize_mode must be one of shortest, longest, squash, got "crop"/],
    ['a fill_color beyond a byte', (j) => (j.preprocess_cfg.fill_color = 300), /preprocess_cfg: fill_color must be an integer 0…255 .*got 300/],
    ['a fill_color that is a name', (j) => (j.preprocess_cfg.fill_color = 'white'), /fill_color must be an integer 0…255 .*got "white"/],
    [
      'a model too big to load although every dimension is in bounds',
      (j) => Object.assign(j.model_cfg, {
        embed_dim: 16384,
        text_cfg: { ...j.model_cfg.text_cfg, width: 16384, heads: 128, layers: 256 },
        multimodal_cfg: { ...j.model_cfg.multimodal_cfg, width: 16384, heads: 128, layers: 256 },
        vision_cfg: { ...j.model_cfg.vision_cfg, attn_pooler_heads: 128 },
      }),
      /the model would have \d+ parameters, more than the 4294967296 this runtime loads/,
    ],
  ];
  for (const [label, mutate, message] of rejections) {
    it(`rejects ${label}`, () => {
      const json = hubJson();
      mutate(json);
      expect(() => parseOpenClipConfig(json)).toThrow(ModelConfigError);
      expect(() => parseOpenClipConfig(json)).toThrow(message);
    });
  }

  it('reads interpolation, resize_mode and fill_color as OpenCLIP v2.24 defines them', () => {
    const json = hubJson();
    Object.assign(json.preprocess_cfg, { interpolation: 'bilinear', resize_mode: 'longest', fill_color: 128 });
    expect(parseOpenClipConfig(json).preprocess).toEqual({ mean: OPENAI_MEAN, std: OPENAI_STD, interpolation: 'bilinear', resizeMode: 'longest', fillColor: 128 });
    Object.assign(json.preprocess_cfg, { interpolation: 'nearest', resize_mode: 'squash' });
    expect(parseOpenClipConfig(json).preprocess).toMatchObject({ interpolation: 'nearest', resizeMode: 'squash' });
  });

  it('the presets sit inside every limit', () => {
    for (const name of ['coca_ViT-B-32', 'coca_ViT-L-14'] as const) {
      const config = presetConfig(name);
      expect(Math.max(config.vision.layers, config.text.layers, config.decoder.layers)).toBeLessThanOrEqual(CONFIG_LIMITS.layers);
      expect(parameterCount(config)).toBeLessThan(CONFIG_LIMITS.parameters / 4);
    }
  });

  it('accepts the inert settings OpenCLIP configs carry', () => {
    const json = hubJson();
    Object.assign(json.model_cfg.vision_cfg, { patch_dropout: 0.5, ls_init_value: null, pool_type: 'tok', image_size: [64, 64] });
    Object.assign(json.model_cfg.text_cfg, { hf_tokenizer_name: '', pool_type: 'argmax', proj_bias: false });
    Object.assign(json.model_cfg, { quick_gelu: false, cast_dtype: 'fp16' });
    expect(parseOpenClipConfig(json)).toEqual(parseOpenClipConfig(hubJson()));
  });
});

describe('parseConfigText', () => {
  const text = readFileSync(GOLDEN_CONFIG, 'utf8');

  it('parses the golden file as parseOpenClipConfig does', () => {
    expect(parseConfigText(text, 'models/tiny/open_clip_config.json')).toEqual(parseOpenClipConfig(hubJson(), 'models/tiny/open_clip_config.json'));
  });

  it('turns a JSON syntax error into ModelConfigError naming the file', () => {
    for (const broken of [text.slice(0, 200), `${text}}`, '', "{'model_cfg': 1}"]) {
      const error = catchError(() => parseConfigText(broken, 'https://host/m/open_clip_config.json'));
      expect(error).toBeInstanceOf(ModelConfigError);
      expect(error.message).toMatch(/^https:\/\/host\/m\/open_clip_config\.json is not valid JSON \(.+\): fix or replace the file$/);
    }
  });

  it('refuses a text far longer than any config before parsing it', () => {
    const error = catchError(() => parseConfigText(' '.repeat(MAX_CONFIG_CHARS + 1), 'big.json'));
    expect(error).toBeInstanceOf(ModelConfigError);
    expect(error.message).toMatch(/big\.json is 1048577 characters long/);
  });
});

describe('expectedTensors and validateCheckpoint', () => {
  let files: FileSource[];
  let checkpoints: Checkpoint[];
  const config = parseOpenClipConfig(hubJson(), 'coca-tiny');

  beforeAll(async () => {
    files = [await openFileSource(GOLDEN_SAFETENSORS), await openFileSource(GOLDEN_TORCH)];
    checkpoints = await Promise.all(files.map((file) => openCheckpoint(file)));
  });
  afterAll(() => Promise.all(files.map((file) => file.close())));

  it('lists exactly the golden checkpoint’s tensors, in order, with its shapes', () => {
    const golden = [...checkpoints[0]!.tensors.values()].map((t) => [t.name, t.shape]);
    expect([...expectedTensors(config)]).toEqual(golden);
  });

  it('accepts both golden checkpoints for the tiny config', () => {
    for (const checkpoint of checkpoints) expect(validateCheckpoint(checkpoint, config)).toBeUndefined();
  });

  it('names the first missing tensor with its expected shape', () => {
    const tensors = new Map(checkpoints[0]!.tensors);
    tensors.delete('text_decoder.cross_attn.1.ln_1_kv.weight');
    const error = catchError(() => validateCheckpoint({ tensors }, config));
    expect(error).toBeInstanceOf(ModelFormatError);
    expect((error as ModelFormatError).tensor).toBe('text_decoder.cross_attn.1.ln_1_kv.weight');
    expect(error.message).toBe('checkpoint lacks text_decoder.cross_attn.1.ln_1_kv.weight [48], which coca-tiny needs');
  });

  it('says when a checkpoint is not CoCa at all', () => {
    const tensors = new Map([...checkpoints[0]!.tensors].filter(([name]) => !name.startsWith('text_decoder.') && name !== 'text.cls_emb'));
    expect(() => validateCheckpoint({ tensors }, config)).toThrow(/lacks text\.cls_emb \[48\].*it is not a CoCa model/);
  });

  it('names the first wrong shape with the expected one', () => {
    const tensors = new Map(checkpoints[1]!.tensors);
    const info = tensors.get('visual.positional_embedding')!;
    tensors.set(info.name, { ...info, shape: [50, 64] });
    const error = catchError(() => validateCheckpoint({ tensors }, config)) as ModelFormatError;
    expect(error.expectedShape).toEqual([17, 64]);
    expect(error.actualShape).toEqual([50, 64]);
    expect(error.message).toMatch(/visual\.positional_embedding has shape \[50, 64\] but coca-tiny expects \[17, 64\]/);
  });

  it('rejects the tiny checkpoint for coca_ViT-B-32', () => {
    expect(() => validateCheckpoint(checkpoints[0]!, presetConfig('coca_ViT-B-32'))).toThrow(
      /text\.cls_emb has shape \[48\] but coca_ViT-B-32 expects \[512\]/,
    );
  });

  it('rejects an unloadable dtype and ignores extra buffers', () => {
    const tensors = new Map<string, TensorInfo>(checkpoints[0]!.tensors);
    tensors.set('text.attn_mask', { name: 'text.attn_mask', dtype: 'F32', shape: [77, 77], byteOffset: 0, byteLength: 0 });
    expect(validateCheckpoint({ tensors }, config)).toBeUndefined();
    const proj = tensors.get('visual.proj')!;
    tensors.set('visual.proj', { ...proj, dtype: 'I64' as TensorInfo['dtype'] });
    expect(() => validateCheckpoint({ tensors }, config)).toThrow(/visual\.proj has dtype I64/);
  });
});

function catchError(action: () => unknown): Error {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}
