// The command line's grammar: flags parsed strictly, option names spelled as flags in messages, numbers
// checked as numbers. Everything the user typed wrong is an OptionsError (exit status 2), never the parser's
// TypeError.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { OptionsError } from '../errors';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** `minLength` → `--min-length`: how the CLI spells the library's option names. */
export function flag(option: string): string {
  return `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

export function parse(command: string, args: readonly string[], options: FlagSpec): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
    return { values: values as Parsed['values'], positionals };
  } catch (error) {
    // Node's messages run on with advice about '--'; their first sentence says what is wrong.
    const message = (error instanceof Error ? error.message : String(error)).split('. ')[0]!.replace(/\.$/, '');
    const option = /'(-[^' ]+)/.exec(message)?.[1] ?? command;
    throw new OptionsError(`${command}: ${message}; see coca ${command} --help`, option);
  }
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** A numeric flag's value (`name` without the dashes), or undefined when the flag is absent. */
export function numberFlag(values: Parsed['values'], name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !NUMBER.test(raw.trim())) {
    throw new OptionsError(`--${name} must be a number (got ${JSON.stringify(raw)})`, `--${name}`);
  }
  return Number(raw);
}

export function stringFlag(values: Parsed['values'], name: string): string | undefined {
  const raw = values[name];
  return typeof raw === 'string' ? raw : undefined;
}
