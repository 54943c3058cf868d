// The shape of src/, from its imports (parsed with TypeScript's parser; `import type`, `export … from` and
// `import()` included): no import cycle, and every import runs down the layers
//   package entry → faces (app, widget) → library → client → worker → engine → model → kernels → gpu
// where the client and the worker both import the protocol (which imports only the engine's API types),
// io, text and image sit beside them (usable from model upwards, importing none of the layers), errors.ts
// and options.ts under everything, and the CLI and benchmarks on top. The page never loads GPU or Node code.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

interface Import {
  /** The imported file, relative to src/ (for imports inside src), or the package / node: specifier. */
  target: string;
  /** Only types are imported (erased from the JavaScript). */
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** A relative specifier → the file it names (relative to src/), or null when it leaves src/. */
function resolveRelative(from: string, specifier: string): string | null {
  const base = resolve(dirname(from), specifier);
  const candidates = [base, `${base}.ts`, join(base, 'index.ts')];
  const found = candidates.find((c) => c.endsWith('.ts') && FILES.has(relative(SRC, c)));
  if (found) return relative(SRC, found);
  if (!base.startsWith(SRC)) return null;
  throw new Error(`${relative(SRC, from)}: cannot resolve ${specifier}`);
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: { specifier: string; typeOnly: boolean }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const allNamedAreTypes = bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly);
      const typeOnly = clause !== undefined && (clause.isTypeOnly || (clause.name === undefined && allNamedAreTypes));
      found.push({ specifier: node.moduleSpecifier.text, typeOnly });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.exportClause;
      const allTypes = clause !== undefined && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly);
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly || allTypes });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      found.push({ specifier: node.arguments[0].text, typeOnly: false });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push({ specifier: node.argument.literal.text, typeOnly: true });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found.flatMap(({ specifier, typeOnly }) => {
    if (!specifier.startsWith('.')) return [{ target: specifier, typeOnly }];
    const target = resolveRelative(file, specifier);
    return target === null ? [] : [{ target, typeOnly }];
  });
}

const FILES = new Set(sourceFiles(SRC).map((f) => relative(SRC, f)));
const GRAPH = new Map([...FILES].map((f) => [f, importsOf(join(SRC, f))]));
const internal = (imports: readonly Import[]): Import[] => imports.filter((i) => FILES.has(i.target));

/** A file's part of the architecture: its folder under src/, or the shared root modules. */
function part(file: string): string {
  if (file === 'errors.ts' || file === 'options.ts') return 'shared';
  if (file === 'index.ts') return 'package';
  const folder = file.split('/')[0]!;
  return folder === 'app' || folder === 'widget' ? 'faces' : folder;
}

/** The main chain, top to bottom: a part may import the parts after it. The protocol sits under both of its sides. */
const LAYERS = ['package', 'faces', 'library', 'client', 'worker', 'protocol', 'engine', 'model', 'kernels', 'gpu'];
const BESIDE = ['io', 'text', 'image'];
const HOSTS = ['cli', 'bench'];

function allowed(from: string, to: string): boolean {
  if (from === 'shared') return to === 'shared';
  if (from === to || to === 'shared') return true;
  if (HOSTS.includes(to)) return false;
  if (HOSTS.includes(from)) return to !== 'faces';
  if (BESIDE.includes(from)) return BESIDE.includes(to);
  if (BESIDE.includes(to)) return LAYERS.indexOf(from) <= LAYERS.indexOf('model');
  return LAYERS.indexOf(from) < LAYERS.indexOf(to);
}

describe('the architecture of src/', () => {
  it('reads every module and its imports', () => {
    // A sanity check of the parser itself: known edges of each kind.
    expect(FILES.size).toBeGreaterThan(100);
    expect(GRAPH.get('worker/adapter.ts')).toContainEqual({ target: 'engine/engine.ts', typeOnly: false });
    expect(GRAPH.get('client/types.ts')).toContainEqual({ target: 'engine/api.ts', typeOnly: true });
    expect(GRAPH.get('cli/main.ts')).toContainEqual({ target: 'cli/model-commands.ts', typeOnly: false });
  });

  it('has no import cycle, type imports included', () => {
    // Tarjan's strongly connected components: every file that can reach itself is in one with more than
    // one file (or imports itself).
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const tangles: string[][] = [];
    const visit = (file: string): void => {
      index.set(file, index.size);
      low.set(file, index.get(file)!);
      stack.push(file);
      for (const { target } of internal(GRAPH.get(file)!)) {
        if (target === file) tangles.push([file]);
        if (!index.has(target)) {
          visit(target);
          low.set(file, Math.min(low.get(file)!, low.get(target)!));
        } else if (stack.includes(target)) {
          low.set(file, Math.min(low.get(file)!, index.get(target)!));
        }
      }
      if (low.get(file) === index.get(file)) {
        const component = stack.splice(stack.indexOf(file));
        if (component.length > 1) tangles.push(component.sort());
      }
    };
    for (const file of [...FILES].sort()) if (!index.has(file)) visit(file);
    expect(tangles).toEqual([]);
  });

  it('imports run down the layers: package → faces → library → client → worker → engine → model → kernels → gpu, the protocol under both sides, io/text/image beside', () => {
    const wrong: string[] = [];
    for (const [file, imports] of GRAPH) {
      for (const { target } of internal(imports)) {
        if (!allowed(part(file), part(target))) wrong.push(`${file} → ${target}`);
      }
    }
    expect(wrong).toEqual([]);
    // Both sides of the worker boundary speak the protocol.
    expect(internal(GRAPH.get('client/index.ts')!).some((i) => part(i.target) === 'protocol')).toBe(true);
    expect(internal(GRAPH.get('worker/adapter.ts')!).some((i) => part(i.target) === 'protocol')).toBe(true);
  });

  it('keeps GPU code out of the page: the client and the faces import worker, engine, model, kernels and gpu for types only', () => {
    const gpuSide = ['worker', 'engine', 'model', 'kernels', 'gpu'];
    const leaks: string[] = [];
    for (const [file, imports] of GRAPH) {
      if (part(file) !== 'client' && part(file) !== 'faces') continue;
      for (const i of internal(imports)) if (gpuSide.includes(part(i.target)) && !i.typeOnly) leaks.push(`${file} → ${i.target}`);
    }
    expect(leaks).toEqual([]);
  });

  it('keeps Node-only code in *-node.ts files (and the CLI and benchmarks), never reached from a browser entry', () => {
    const nodeOnly = (i: Import): boolean => i.target.startsWith('node:') || i.target === 'webgpu';
    const misplaced = [...GRAPH]
      .filter(([file, imports]) => imports.some(nodeOnly) && !file.endsWith('-node.ts') && !HOSTS.includes(part(file)))
      .map(([file]) => file);
    expect(misplaced).toEqual([]);
    // Everything a browser bundle loads, type imports aside (they are erased).
    const entries = ['index.ts', 'client/index.ts', 'widget/index.ts', 'worker/coca-worker.ts', 'app/main.ts', 'app/sw.ts'];
    const reached = new Set<string>();
    const walk = (file: string): void => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const i of internal(GRAPH.get(file)!)) if (!i.typeOnly) walk(i.target);
    };
    entries.forEach(walk);
    expect([...reached].filter((f) => f.endsWith('-node.ts') || GRAPH.get(f)!.some(nodeOnly))).toEqual([]);
    expect(reached.has('engine/engine.ts')).toBe(true);
  });
});
