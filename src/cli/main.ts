// The Node CLI (`npx coca …`): the same runtime as the browser, on Dawn.
//   coca embed --model DIR [--vocab FILE] [--image FILE]... [--text STR]... [--dtype fp16|fp32] [--math f32|f16] --json
//   coca caption --model DIR [--vocab FILE] --greedy FILE... [--dtype fp16|fp32] --json
//   coca tokenize [--vocab FILE] --json STR...
//   coca preprocess --size N FILE --json
// Errors go to stderr with a non-zero exit code.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { decodeImageFile } from '../image/decode-node';
import { preprocess } from '../image/index';
import { loadTokenizerFromBytes, type ClipTokenizer } from '../text/index';
import { CocaError } from '../errors';

const USAGE = `usage:
  coca embed --model DIR [--vocab FILE] [--image FILE]... [--text STR]... [--dtype fp16|fp32] [--math f32|f16] --json
  coca caption --model DIR [--vocab FILE] --greedy FILE... [--dtype fp16|fp32] --json
  coca tokenize [--vocab FILE] --json STR...
  coca preprocess --size N FILE --json`;

/** The vocabulary: --vocab, else $COCA_VOCAB, else bpe_simple_vocab_16e6.txt.gz in the model folder. */
async function loadVocab(vocab: string | undefined, modelDir: string | undefined): Promise<ClipTokenizer> {
  const candidates = [vocab, process.env.COCA_VOCAB, modelDir && `${modelDir}/bpe_simple_vocab_16e6.txt.gz`].filter(
    (p): p is string => typeof p === 'string' && p.length > 0,
  );
  for (const path of candidates) {
    try {
      return await loadTokenizerFromBytes(new Uint8Array(await readFile(path)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || path === vocab) throw error;
    }
  }
  throw new CocaError(
    'No vocabulary found: pass --vocab FILE (bpe_simple_vocab_16e6.txt.gz, as shipped with OpenCLIP) or set COCA_VOCAB.',
  );
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      model: { type: 'string' },
      vocab: { type: 'string' },
      image: { type: 'string', multiple: true },
      text: { type: 'string', multiple: true },
      greedy: { type: 'boolean' },
      size: { type: 'string' },
      dtype: { type: 'string' },
      math: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (!values.json) throw new CocaError(`only --json output is implemented; add --json\n${USAGE}`);
  switch (command) {
    case 'tokenize': {
      const tokenizer = await loadVocab(values.vocab, undefined);
      print(positionals.map((text) => tokenizer.encodeWithSpecials(text)));
      return;
    }
    case 'preprocess': {
      const size = Number(values.size);
      if (!Number.isInteger(size) || size < 1) throw new CocaError(`--size must be a positive integer\n${USAGE}`);
      if (positionals.length !== 1) throw new CocaError(`preprocess takes one image file\n${USAGE}`);
      const pixels = await decodeImageFile(positionals[0]!, { applyExifOrientation: false });
      print({ shape: [3, size, size], data: Array.from(preprocess(pixels, { size })) });
      return;
    }
    case 'embed':
    case 'caption': {
      const { runModelCommand } = await import('./model-commands').catch((error: unknown) => {
        // Dawn's Node bindings are an optional, development-time dependency of the package.
        if (String(error).includes("'webgpu'")) {
          throw new CocaError("embed and caption run on Dawn's Node bindings: install them with `npm install webgpu` (and a Vulkan driver)");
        }
        throw error;
      });
      await runModelCommand(command, {
        model: values.model,
        vocab: values.vocab,
        images: command === 'embed' ? values.image ?? [] : positionals,
        texts: values.text ?? [],
        dtype: values.dtype,
        math: values.math,
        greedy: values.greedy ?? false,
        loadVocab,
        print,
      });
      return;
    }
    default:
      throw new CocaError(USAGE);
  }
}

main(process.argv.slice(2)).then(
  // Exit only once stdout has drained: to a pipe, writes are asynchronous and exit() would cut them.
  () => process.stdout.write('', () => process.exit(0)),
  (error: unknown) => {
    const e = error instanceof Error ? error : new Error(String(error));
    process.stderr.write(`coca: ${e.name === 'Error' ? '' : `${e.name}: `}${e.message}\n`);
    process.exit(1);
  },
);
