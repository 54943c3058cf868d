// The flags of the model commands and their help, made from the options module (src/options.ts), so the
// CLI lists exactly the library's strategies, parameters and defaults under their kebab-case names.
import { CAPTION_DEFAULTS, CAPTION_PARAMETERS, CAPTION_STRATEGIES, DEFAULT_DTYPE, DEFAULT_MATH, DEFAULT_ORIENTATION, MATH_PRECISIONS, ORIENTATIONS, strategiesUsing, WEIGHT_DTYPES, type CaptionStrategy } from '../options';
import { flag, type FlagSpec } from './args';

/**
 * The CLI's strategy when none is given: OpenCLIP's generate() defaults to its beam search, and people who
 * caption with OpenCLIP expect that. (The library's default is greedy: it streams and is the fastest.)
 */
export const CLI_DEFAULT_STRATEGY: CaptionStrategy = 'beam-openclip';

const MODEL_FLAGS: FlagSpec = {
  model: { type: 'string' },
  vocab: { type: 'string' },
  dtype: { type: 'string' },
  math: { type: 'string' },
  orientation: { type: 'string' },
  revision: { type: 'string' },
  'hub-url': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
};

export const EMBED_FLAGS: FlagSpec = { ...MODEL_FLAGS, image: { type: 'string', multiple: true }, text: { type: 'string', multiple: true } };

export const CAPTION_FLAGS: FlagSpec = {
  ...MODEL_FLAGS,
  strategy: { type: 'string' },
  greedy: { type: 'boolean' },
  ...Object.fromEntries(CAPTION_PARAMETERS.map((p) => [flag(p).slice(2), { type: 'string' as const }])),
};

const MODEL_HELP = `model:
  --model MODEL        a folder in the hub's layout (open_clip_config.json and open_clip_model.safetensors,
                       open_clip_pytorch_model.safetensors or open_clip_pytorch_model.bin), a hub repo id
                       (owner/name, fetched from the hub) or a base URL of such a folder; required
  --vocab FILE|URL     bpe_simple_vocab_16e6.txt[.gz]; default $COCA_VOCAB, else that file in the model
                       folder, else the hub's openai/clip-vit-base-patch32 vocabulary
  --dtype ${WEIGHT_DTYPES.join('|')}    weights on the GPU (default ${DEFAULT_DTYPE})
  --math ${MATH_PRECISIONS.join('|')}       matmul arithmetic (default ${DEFAULT_MATH}; f16 needs the GPU's shader-f16)
  --orientation ${ORIENTATIONS.join('|')}  EXIF orientation of the images (default ${DEFAULT_ORIENTATION}: as stored, as OpenCLIP)
  --revision REV       the hub revision of a repo id (default main)
  --hub-url URL        where repo ids resolve (default https://huggingface.co)`;

/** "--num-beams N   beam 3, beam-openclip 6": who takes a parameter, and its default there. */
function parameterLine(parameter: (typeof CAPTION_PARAMETERS)[number]): string {
  const defaults = strategiesUsing(parameter).map((s) => {
    const value = (CAPTION_DEFAULTS[s] as Readonly<Record<string, number | null>>)[parameter];
    return `${s} ${value ?? 'none'}`;
  });
  const kind = parameter === 'topP' || parameter === 'temperature' || parameter.endsWith('Penalty') ? 'X' : 'N';
  return `  ${`${flag(parameter)} ${kind}`.padEnd(20)} ${defaults.join(', ')}`;
}

export const CAPTION_HELP = `usage: coca caption --model MODEL [options] IMAGE...

Captions each IMAGE (PNG or JPEG). Prints "IMAGE<tab>caption" per image, or with --json one array of
{"image", "tokens", "caption"}.

${MODEL_HELP}

decoding (the library's option names, kebab-cased; defaults per strategy):
  --strategy ${CAPTION_STRATEGIES.join('|')}
                       default ${CLI_DEFAULT_STRATEGY} (OpenCLIP's generate()); see README "Captions"
  --greedy             the same as --strategy greedy
${CAPTION_PARAMETERS.map(parameterLine).join('\n')}
  (lengths count the start and end tokens; top-k: none means all the step reads back, 32)

output:
  --json               JSON instead of lines`;

export const EMBED_HELP = `usage: coca embed --model MODEL [options] [--image FILE]... [--text TEXT]...

Prints {"image_features", "text_features", "similarity_logits", "probs"}: normalized embeddings, and with
both images and texts the logits (logit_scale · cosine) and softmax over the texts per image.

${MODEL_HELP}

inputs (at least one):
  --image FILE         an image (PNG or JPEG), repeatable
  --text TEXT          a text, repeatable
  --json               accepted for compatibility: the output is always JSON`;
