// `coca embed` and `coca caption`: load a hub-layout folder onto the GPU (Dawn) and run the model.
import { access, readFile } from 'node:fs/promises';
import { acquireDevice } from '../gpu/device';
import { nodeGpu } from '../gpu/dawn-node';
import { Gpu } from '../gpu/gpu';
import { nodeShaders } from '../gpu/shaders-node';
import { decodeImageFile } from '../image/decode-node';
import { preprocess } from '../image/index';
import { openCheckpoint } from '../io/checkpoint';
import { openFileSource } from '../io/source-node';
import { CocaError, ModelFormatError } from '../errors';
import { parseOpenClipConfig, presetConfig, type CocaConfig } from '../model/config';
import { CocaModel } from '../model/coca';
import { resolveDtype, resolveMath } from '../options';
import type { ClipTokenizer } from '../text/index';

export interface ModelCommandOptions {
  model: string | undefined;
  vocab: string | undefined;
  images: string[];
  texts: string[];
  dtype: string | undefined;
  math: string | undefined;
  greedy: boolean;
  loadVocab: (vocab: string | undefined, modelDir: string | undefined) => Promise<ClipTokenizer>;
  print: (value: unknown) => void;
}

/** The hub's weight file names, in the order they are tried. */
export const WEIGHT_FILE_NAMES = ['open_clip_model.safetensors', 'open_clip_pytorch_model.safetensors', 'open_clip_pytorch_model.bin'];

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The config from open_clip_config.json, or a preset named by the folder (e.g. …CoCa-ViT-B-32…). */
async function folderConfig(dir: string): Promise<CocaConfig> {
  const file = `${dir}/open_clip_config.json`;
  if (await exists(file)) return parseOpenClipConfig(JSON.parse(await readFile(file, 'utf8')), file);
  if (/vit-l-14/i.test(dir)) return presetConfig('coca_ViT-L-14');
  if (/vit-b-32/i.test(dir)) return presetConfig('coca_ViT-B-32');
  throw new ModelFormatError(`${dir} has no open_clip_config.json and its name names no preset (coca_ViT-B-32, coca_ViT-L-14)`, '');
}

export async function runModelCommand(command: 'embed' | 'caption', o: ModelCommandOptions): Promise<void> {
  if (!o.model) throw new CocaError(`${command} needs --model DIR`);
  if (command === 'caption' && !o.greedy) throw new CocaError('caption: only --greedy decoding is available from the CLI');
  const dtype = resolveDtype(o.dtype, '--dtype');
  const math = resolveMath(o.math, '--math');
  const config = await folderConfig(o.model);
  let weightsPath: string | undefined;
  for (const name of WEIGHT_FILE_NAMES) {
    if (await exists(`${o.model}/${name}`)) {
      weightsPath = `${o.model}/${name}`;
      break;
    }
  }
  if (!weightsPath) throw new ModelFormatError(`${o.model} holds none of ${WEIGHT_FILE_NAMES.join(', ')}`, '');
  const tokenizer = await o.loadVocab(o.vocab, o.model); // texts to encode, or captions to decode
  const pixels = await Promise.all(
    o.images.map(async (file) => preprocess(await decodeImageFile(file), { size: config.vision.imageSize, ...config.preprocess })),
  );
  const source = await openFileSource(weightsPath);
  const gpu = new Gpu(await acquireDevice({ gpu: nodeGpu() }), nodeShaders());
  try {
    const model = await CocaModel.load(gpu, await openCheckpoint(source), config, { dtype, math });
    if (command === 'embed') {
      const imageFeatures = pixels.length ? await model.encodeImages(pixels) : [];
      const textFeatures = o.texts.length ? await model.encodeTexts(tokenizer.tokenize(o.texts, config.text.contextLength)) : [];
      const sim = model.similarity(imageFeatures, textFeatures);
      o.print({
        image_features: imageFeatures.map((f) => [...f]),
        text_features: textFeatures.map((f) => [...f]),
        similarity_logits: sim.logits,
        probs: sim.probs,
      });
    } else {
      const results = [];
      for (const [i, file] of o.images.entries()) {
        const tokens = await model.caption(pixels[i]!);
        results.push({ image: file, tokens, caption: tokenizer.captionText(tokens) });
      }
      o.print(results);
    }
    model.dispose();
  } finally {
    await source.close?.();
    gpu.destroy();
  }
}
