// README.md's "Errors" table against src/errors.ts: every exported error class has a row (and no row names
// a class that does not exist), every class's `name` is its export name (the worker boundary rebuilds errors
// by name), and every CheckpointFormatError code is listed.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as errors from '../src/errors';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const section = readme.slice(readme.indexOf('\n## Errors\n'), readme.indexOf('\n## ', readme.indexOf('\n## Errors\n') + 1));

type ErrorClass = new (...args: unknown[]) => Error;
const classes = (Object.entries(errors) as [string, unknown][]).filter(
  (entry): entry is [string, ErrorClass] => typeof entry[1] === 'function' && (entry[1] as { prototype: unknown }).prototype instanceof Error,
);

/** The table's rows: [error, when, what to do]. */
const rows = section
  .split('\n')
  .filter((line) => /^\| `\w+` \|/.test(line))
  .map((line) => line.split(' | ').map((cell) => cell.replace(/^\| |\|$/g, '').trim()));

describe("README's list of errors", () => {
  it('has a row for every error class in src/errors.ts, and none for classes that do not exist', () => {
    const documented = rows.map(([name]) => name!.replace(/`/g, ''));
    const missing = classes.map(([name]) => name).filter((name) => !documented.includes(name));
    const stale = documented.filter((name) => !classes.some(([exported]) => exported === name));
    expect(missing, 'add a row (when it is thrown, what to do) to the Errors table in README.md for').toEqual([]);
    expect(stale, 'remove the README rows of classes no longer in src/errors.ts').toEqual([]);
    expect(new Set(documented).size).toBe(documented.length);
  });

  it('says for every error when it is thrown and what to do', () => {
    for (const [name, when, todo] of rows) {
      expect(when?.length, `${name}: when`).toBeGreaterThan(20);
      expect(todo?.length, `${name}: what to do`).toBeGreaterThan(5);
    }
  });

  it('names every class by its export name, as the worker boundary expects', () => {
    for (const [exported, ErrorClass] of classes) {
      expect(Reflect.construct(ErrorClass, ['m', 'm', 'm', 'm']).name, exported).toBe(exported);
    }
  });

  it('lists every CheckpointFormatError code', () => {
    const source = readFileSync(new URL('../src/errors.ts', import.meta.url), 'utf8');
    const union = source.slice(source.indexOf('export type CheckpointErrorCode'), source.indexOf(';', source.indexOf('export type CheckpointErrorCode')));
    const codes = [...union.matchAll(/'([a-z-]+)'/g)].map((match) => match[1]!);
    expect(codes.length).toBeGreaterThan(15);
    const row = rows.find(([name]) => name === '`CheckpointFormatError`')!.join(' ');
    expect(codes.filter((code) => !row.includes(`\`${code}\``)), 'list these codes in the CheckpointFormatError row').toEqual([]);
  });
});
