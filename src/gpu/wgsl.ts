// A deliberately small preprocessor for shaders/**/*.wgsl:
//   #if NAME / #if !NAME / #else / #endif   (NAME is a boolean flag; nesting allowed)
//   #include lib/name                       (the text of shaders/lib/name.wgsl, preprocessed with the same
//                                            flags; each file at most once per shader)
//   {{NAME}}                                substituted by a value (sizes, element types)
// Everything that can be an `override` constant is one; this is only for what WGSL cannot express
// (a binding's element type, an optional epilogue, code shared between kernels).

export type ShaderDefines = Record<string, boolean | number | string>;

/** Source text of another shader file, for #include. */
export type IncludeResolver = (name: string) => string;

export function preprocessWgsl(source: string, defines: ShaderDefines, shaderName = 'shader', resolve?: IncludeResolver): string {
  const included = new Set<string>([shaderName]);
  const text = expand(source, defines, shaderName, resolve, included);
  return text.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = defines[name];
    if (value === undefined) throw new Error(`${shaderName}: substitution {{${name}}} is not defined`);
    return String(value);
  });
}

function expand(source: string, defines: ShaderDefines, shaderName: string, resolve: IncludeResolver | undefined, included: Set<string>): string {
  const out: string[] = [];
  const stack: boolean[] = []; // one entry per open #if: is its current branch taken?
  const isActive = (): boolean => stack.every(Boolean);
  source.split('\n').forEach((line, index) => {
    const where = `${shaderName}:${index + 1}`;
    const include = /^\s*#include\s+([\w/]+)\s*$/.exec(line);
    if (include) {
      const name = include[1]!;
      if (isActive() && !included.has(name)) {
        if (!resolve) throw new Error(`${where}: #include ${name} needs a shader library`);
        included.add(name);
        out.push(expand(resolve(name), defines, name, resolve, included));
      } else {
        out.push('');
      }
      return;
    }
    const directive = /^\s*#(if|else|endif)\b\s*(!?)(\w*)/.exec(line);
    if (!directive) {
      if (isActive()) out.push(line);
      else out.push(''); // keep line numbers stable for compiler messages
      return;
    }
    const [, kind, negate, name] = directive;
    if (kind === 'if') {
      if (!name) throw new Error(`${where}: #if needs a flag name`);
      const value = defines[name];
      if (value === undefined) throw new Error(`${where}: flag ${name} is not defined`);
      const truthy = Boolean(value);
      stack.push(negate ? !truthy : truthy);
    } else if (kind === 'else') {
      if (stack.length === 0) throw new Error(`${where}: #else without #if`);
      stack[stack.length - 1] = !stack[stack.length - 1];
    } else {
      if (stack.pop() === undefined) throw new Error(`${where}: #endif without #if`);
    }
    out.push('');
  });
  if (stack.length > 0) throw new Error(`${shaderName}: unterminated #if`);
  return out.join('\n');
}
