// `coca embed` and `coca caption`: the engine on Node's host (Dawn), loading a model folder, a hub repo id
// or a base URL exactly as the browser's worker does. Usage errors are found before anything is loaded.
import { OptionsError } from '../errors';
import { CocaEngine } from '../engine/engine';
import { nodeHost } from '../engine/host-node';
import { CAPTION_PARAMETERS, resolveCaptionOptions, resolveDtype, resolveMath, resolveOrientation, resolveStrategy, type CaptionSettings } from '../options';
import { flag, numberFlag, stringFlag, type Parsed } from './args';
import { CLI_DEFAULT_STRATEGY } from './help';

/** The caption settings the flags ask for, checked now (OptionsError spelled as flags). */
export function captionSettings(values: Parsed['values']): CaptionSettings {
  const strategyFlag = stringFlag(values, 'strategy');
  if (values.greedy && strategyFlag !== undefined && strategyFlag !== 'greedy') {
    throw new OptionsError(`--greedy and --strategy ${strategyFlag} contradict each other: give one`, '--greedy');
  }
  const settings: CaptionSettings = { strategy: values.greedy ? 'greedy' : resolveStrategy(strategyFlag ?? CLI_DEFAULT_STRATEGY, '--strategy') };
  for (const parameter of CAPTION_PARAMETERS) {
    const value = numberFlag(values, flag(parameter).slice(2));
    if (value !== undefined) settings[parameter] = value;
  }
  resolveCaptionOptions(settings, { spell: flag });
  return settings;
}

export async function runModelCommand(command: 'embed' | 'caption', { values, positionals }: Parsed, print: (text: string) => void): Promise<void> {
  const model = stringFlag(values, 'model');
  if (!model) throw new OptionsError(`${command} needs --model MODEL (a folder, a hub repo id or a base URL)`, '--model');
  const dtype = resolveDtype(stringFlag(values, 'dtype'), '--dtype');
  const math = resolveMath(stringFlag(values, 'math'), '--math');
  const orientation = resolveOrientation(stringFlag(values, 'orientation'), '--orientation');
  const images = command === 'embed' ? ((values.image as string[] | undefined) ?? []) : positionals;
  const texts = (values.text as string[] | undefined) ?? [];
  const settings = command === 'caption' ? captionSettings(values) : {};
  if (command === 'caption' && images.length === 0) throw new OptionsError('caption needs at least one IMAGE', 'IMAGE');
  if (command === 'embed' && positionals.length > 0) throw new OptionsError(`embed takes its inputs as --image and --text, not ${JSON.stringify(positionals[0])}`, 'IMAGE');
  if (command === 'embed' && images.length + texts.length === 0) throw new OptionsError('embed needs at least one --image or --text', '--image');

  const vocab = stringFlag(values, 'vocab') ?? (process.env.COCA_VOCAB || undefined);
  const revision = stringFlag(values, 'revision');
  const hubUrl = stringFlag(values, 'hub-url');
  const engine = await CocaEngine.load(nodeHost(), { model, dtype, math, orientation, ...(vocab ? { vocab } : {}), ...(revision ? { revision } : {}), ...(hubUrl ? { hubUrl } : {}) });
  try {
    if (command === 'embed') {
      const both = images.length > 0 && texts.length > 0;
      const sim = both ? await engine.similarity(images, texts) : null;
      const imageFeatures = sim?.imageFeatures ?? (images.length ? await engine.encodeImage(images) : []);
      const textFeatures = sim?.textFeatures ?? (texts.length ? await engine.encodeText(texts) : []);
      print(
        JSON.stringify({
          image_features: imageFeatures.map((f) => [...f]),
          text_features: textFeatures.map((f) => [...f]),
          similarity_logits: sim?.logits ?? [],
          probs: sim?.probs ?? [],
        }),
      );
      return;
    }
    const results: { image: string; tokens: number[]; caption: string }[] = [];
    for (const image of images) {
      const { text, tokens } = await engine.caption(image, settings);
      if (values.json) results.push({ image, tokens, caption: text });
      else print(`${image}\t${text}`);
    }
    if (values.json) print(JSON.stringify(results));
  } finally {
    await engine.dispose();
  }
}
