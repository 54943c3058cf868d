// The Node CLI (`npx coca …`): the same engine as the browser's worker, on Dawn. `coca --help` and
// `coca COMMAND --help` list everything. Results go to stdout; errors to stderr as "coca: Name: message".
// Exit status: 0 done; 2 the command line is wrong (unknown command or flag, a missing or extra argument,
// a bad option value: OptionsError); 1 anything else (files, model, network, GPU; some images of a batch
// command failed); 130 (143) a batch command stopped by Ctrl-C (SIGTERM).
import { OptionsError, WebGPUUnavailableError } from '../errors';
import { decodeImage, vocabularyFile } from '../engine/files-node';
import { preprocess } from '../image/index';
import { loadTokenizerFromBytes, type ClipTokenizer } from '../text/index';
import { DEFAULT_ORIENTATION, ORIENTATIONS, resolveOrientation } from '../options';
import { numberFlag, parse, stringFlag, type FlagSpec, type Parsed } from './args';
import { CAPTION_FLAGS, CAPTION_HELP, EMBED_FLAGS, EMBED_HELP, SEARCH_FLAGS, SEARCH_HELP } from './help';
import type { ModelCommand } from './model-commands';

interface Command {
  summary: string;
  flags: FlagSpec;
  help: string;
  /** The exit status (none: 0). */
  run(parsed: Parsed, print: (text: string) => void): Promise<number | void>;
}

/** Largest --size for preprocess: OpenCLIP's models use 224–448; 1024² × 3 values is already 60 MB of JSON. */
const MAX_PREPROCESS_SIZE = 1024;

const COMMANDS: Record<string, Command> = {
  caption: {
    summary: 'caption images and folders (default strategy beam-openclip, as OpenCLIP’s generate())',
    flags: CAPTION_FLAGS,
    help: CAPTION_HELP,
    run: (parsed, print) => modelCommand('caption', parsed, print),
  },
  embed: {
    summary: 'normalized image and text embeddings and their similarity; an index for search',
    flags: EMBED_FLAGS,
    help: EMBED_HELP,
    run: (parsed, print) => modelCommand('embed', parsed, print),
  },
  search: {
    summary: 'the images of an index (coca embed --out FILE.safetensors) most similar to a text',
    flags: SEARCH_FLAGS,
    help: SEARCH_HELP,
    run: (parsed, print) => modelCommand('search', parsed, print),
  },
  tokenize: {
    summary: 'CLIP token ids of texts (start and end tokens, no padding)',
    flags: { vocab: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
    help: `usage: coca tokenize [--vocab FILE] TEXT...

Prints one JSON array of token id lists, one per TEXT.
  --vocab FILE   bpe_simple_vocab_16e6.txt[.gz] (default: $COCA_VOCAB)
  --json         accepted for compatibility: the output is always JSON`,
    run: async ({ values, positionals }, print) => {
      if (positionals.length === 0) throw new OptionsError('tokenize needs at least one TEXT', 'TEXT');
      const tokenizer = await localTokenizer(stringFlag(values, 'vocab'));
      print(JSON.stringify(positionals.map((text) => tokenizer.encodeWithSpecials(text))));
    },
  },
  preprocess: {
    summary: 'the model’s input for an image: resized, center-cropped, normalized [3, N, N]',
    flags: { size: { type: 'string' }, orientation: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
    help: `usage: coca preprocess --size N IMAGE

Prints {"shape":[3,N,N],"data":[...]}: OpenCLIP's transform (bicubic resize of the shorter side, center crop,
OpenAI mean/std), in the file's own mode with RGB last. EXIF orientation is ignored, as PIL ignores it,
unless --orientation exif.
  --size N       the model's image size, 1 to ${MAX_PREPROCESS_SIZE} (224 for the CoCa presets)
  --orientation ${ORIENTATIONS.join('|')}  EXIF orientation (default ${DEFAULT_ORIENTATION}, as OpenCLIP)
  --json         accepted for compatibility: the output is always JSON`,
    run: async ({ values, positionals }, print) => {
      const size = numberFlag(values, 'size');
      if (size === undefined || !Number.isInteger(size) || size < 1 || size > MAX_PREPROCESS_SIZE) {
        throw new OptionsError(`--size must be an integer from 1 to ${MAX_PREPROCESS_SIZE} (got ${stringFlag(values, 'size') ?? 'none'})`, '--size');
      }
      if (positionals.length !== 1) throw new OptionsError(`preprocess takes one IMAGE (got ${positionals.length})`, 'IMAGE');
      const orientation = resolveOrientation(stringFlag(values, 'orientation'), '--orientation');
      const pixels = await decodeImage(positionals[0]!);
      print(JSON.stringify({ shape: [3, size, size], data: Array.from(preprocess(pixels, { size, orientation })) }));
    },
  },
};

const USAGE = `coca — CoCa (OpenCLIP's Contrastive Captioner) on WebGPU, in Node (Dawn)

usage: coca COMMAND [options] [ARGS]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`)
  .join('\n')}

coca COMMAND --help lists a command's options.
Exit status: 0 done; 1 failed (files, model, network, GPU; or some images of a caption or embed run,
each reported); 2 usage error (unknown command or option, missing or extra argument, bad option value);
130 stopped by Ctrl-C, 143 by SIGTERM (what was done is kept: the same command continues it).`;

/** The vocabulary of a command without a model: --vocab, else $COCA_VOCAB. */
async function localTokenizer(vocab: string | undefined): Promise<ClipTokenizer> {
  const path = vocab ?? process.env.COCA_VOCAB;
  if (!path) throw new OptionsError('tokenize needs --vocab FILE (bpe_simple_vocab_16e6.txt.gz, as shipped with OpenCLIP) or $COCA_VOCAB', '--vocab');
  return loadTokenizerFromBytes(new Uint8Array(await (await vocabularyFile(path)).arrayBuffer()));
}

async function modelCommand(command: ModelCommand, parsed: Parsed, print: (text: string) => void): Promise<number> {
  // Dawn's Node bindings are a development-time dependency of the package: loaded only for these commands.
  const { runModelCommand } = await import('./model-commands').catch((error: unknown) => {
    if (String(error).includes("'webgpu'")) {
      throw new WebGPUUnavailableError("embed, caption and search run on Dawn's Node bindings: install them with `npm install webgpu` (and a Vulkan driver)");
    }
    throw error;
  });
  return runModelCommand(command, parsed, print);
}

async function main(argv: readonly string[], print: (text: string) => void): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === undefined) throw new OptionsError(`no command given\n\n${USAGE}`, 'COMMAND');
    print(USAGE);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) throw new OptionsError(`unknown command ${JSON.stringify(name)}; the commands are ${Object.keys(COMMANDS).join(', ')} (coca --help)`, 'COMMAND');
  const parsed = parse(name, rest, command.flags);
  if (parsed.values.help) {
    print(command.help);
    return 0;
  }
  return (await command.run(parsed, print)) ?? 0;
}

main(process.argv.slice(2), (text) => process.stdout.write(`${text}\n`)).then(
  // Exit only once stdout has drained: to a pipe, writes are asynchronous and exit() would cut them.
  (status) => process.stdout.write('', () => process.exit(status)),
  (error: unknown) => {
    const e = error instanceof Error ? error : new Error(String(error));
    process.stderr.write(`coca: ${e.name === 'Error' ? '' : `${e.name}: `}${e.message}\n`);
    process.exit(e instanceof OptionsError ? 2 : 1);
  },
);
