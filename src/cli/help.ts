// The flags of the model commands and their help, made from the options module (src/options.ts), so the
// CLI lists exactly the library's strategies, parameters and defaults under their kebab-case names.
import { CAPTION_DEFAULTS, CAPTION_PARAMETERS, CAPTION_STRATEGIES, DEFAULT_DTYPE, DEFAULT_MATH, DEFAULT_ORIENTATION, MATH_PRECISIONS, ORIENTATIONS, strategiesUsing, WEIGHT_DTYPES, type CaptionStrategy } from '../options';
import { IMAGE_EXTENSIONS } from '../library/files';
import { flag, type FlagSpec } from './args';

/**
 * The CLI's strategy when none is given: OpenCLIP's generate() defaults to its beam search, and people who
 * caption with OpenCLIP expect that. (The library's default is greedy: it streams and is the fastest.)
 */
export const CLI_DEFAULT_STRATEGY: CaptionStrategy = 'beam-openclip';

/** Images per vision pass in `coca embed` and `coca caption` (the engine's pipelines are compiled for batches of 8). */
export const DEFAULT_BATCH = 8;
/** Largest --batch: the photo library's bound too; activations grow with the batch. */
export const MAX_BATCH = 64;
/** Results `coca search` prints by default. */
export const DEFAULT_K = 10;

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

/** The flags of the commands that work through files and folders of images. */
const BATCH_FLAGS: FlagSpec = { out: { type: 'string' }, quiet: { type: 'boolean' } };

export const EMBED_FLAGS: FlagSpec = { ...MODEL_FLAGS, ...BATCH_FLAGS, batch: { type: 'string' }, image: { type: 'string', multiple: true }, text: { type: 'string', multiple: true } };

export const SEARCH_FLAGS: FlagSpec = { ...MODEL_FLAGS, index: { type: 'string' }, k: { type: 'string', short: 'k' } };

export const CAPTION_FLAGS: FlagSpec = {
  ...MODEL_FLAGS,
  ...BATCH_FLAGS,
  batch: { type: 'string' },
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

const IMAGES_HELP = `IMAGE is a file or a folder. Folders are read recursively for the files the app's folder picker takes
(${IMAGE_EXTENSIONS.map((e) => `.${e}`).join(' ')}; Node decodes PNG, JPEG and GIF and reports
the others as failed), in path order; files named on the command line are taken in the order given,
whatever their name. Links are followed, each real file and folder once (link loops end). A PATH that does
not exist stops the command before anything is loaded; an image that cannot be read is reported on stderr
and the others go on.`;

const OUT_HELP = `Progress goes to stderr: a bar on a terminal (n/N, images/s, time left), otherwise a plain line at most
once a second; then a summary line. --quiet prints only errors.

exit status: 0 every image done; 1 some images failed (each reported; the others are done and stored)
or the run failed; 2 usage error; 130 stopped by Ctrl-C (143 by SIGTERM) after the image or batch in
progress, what is done stored: run the same command again to continue it.`;

export const CAPTION_HELP = `usage: coca caption --model MODEL [options] IMAGE...

Captions each image: the vision tower runs once per batch (--batch), then each image's caption is decoded
in turn (a caption's decoding attends to one image's K/V on the GPU); every caption equals the one its image
gets alone. Prints "IMAGE<tab>caption" per image as its batch is done, or with --json one array of
{"image", "tokens", "caption"}.

${IMAGES_HELP}

${MODEL_HELP}

decoding (the library's option names, kebab-cased; defaults per strategy):
  --strategy ${CAPTION_STRATEGIES.join('|')}
                       default ${CLI_DEFAULT_STRATEGY} (OpenCLIP's generate()); see README "Captions"
  --greedy             the same as --strategy greedy
${CAPTION_PARAMETERS.map(parameterLine).join('\n')}
  (lengths count the start and end tokens; top-k: none means all the step reads back, 32)

output:
  --json               JSON instead of lines
  --batch N            images per vision pass, 1 to ${MAX_BATCH} (default ${DEFAULT_BATCH})
  --out FILE.jsonl     append {"path", "text", "tokens", "ms"} per image to FILE (ms: the batch's time per
                       image), each line written as its batch is done; images whose path FILE already
                       holds are skipped (resume; a last line cut off by a crash is removed and its image
                       done again)
  --quiet              no progress or summary on stderr

${OUT_HELP}`;

export const EMBED_HELP = `usage: coca embed --model MODEL [options] [IMAGE...] [--image FILE]... [--text TEXT]...

Normalized image embeddings, encoded in batches (--batch). Without --out prints one JSON object
{"images", "image_features", "text_features", "similarity_logits", "probs"}: the images embedded (in
order), their embeddings, the texts' embeddings and, with both, the logits (logit_scale · cosine) and the
softmax over the texts per image.

${IMAGES_HELP}

${MODEL_HELP}

inputs (at least one):
  IMAGE                a file or a folder
  --image FILE         the same as an IMAGE argument, repeatable
  --text TEXT          a text, repeatable (not with --out)
  --batch N            images per encoding pass, 1 to ${MAX_BATCH} (default ${DEFAULT_BATCH})

output:
  --json               accepted for compatibility: without --out the output is always JSON
  --out FILE.jsonl     append {"path", "embedding"} per image, each line written as its batch is done;
                       paths FILE already holds are skipped (resume, as for caption)
  --out FILE.safetensors
                       an index for coca search: tensor "embeddings" [N, E] f32 with the paths (a JSON
                       array), model id, revision and dtype in its __metadata__; an existing index is
                       extended (same model, revision and dtype; its paths are skipped). Written when the
                       run ends (also after Ctrl-C or a failure), to a temporary file renamed over FILE
  --quiet              no progress or summary on stderr

${OUT_HELP}`;

export const SEARCH_HELP = `usage: coca search --index FILE.safetensors --model MODEL [options] QUERY

Prints the -k stored images most similar to the QUERY text by cosine, best first: "score<tab>path" lines,
or with --json one array of {"path", "score"}. The index must have been made by the same model
(coca embed --out FILE.safetensors); another model's index is refused (LibraryError).

  --index FILE         the index (required)
  -k N, --k N          how many results (default ${DEFAULT_K})
  --json               JSON instead of lines

${MODEL_HELP}`;
