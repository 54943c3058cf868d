// `npm run bench:device [-- --out DIR]`: builds the device kit (default ./device-kit/), a folder that runs the
// model benchmark and profile on any Linux x64 GPU machine with nothing installed but bash and xz:
//   coca-bench.mjs     src/bench/device.ts bundled by esbuild (bench, profile, adapter report)
//   shaders/           the WGSL kernels
//   node_modules/webgpu/  Dawn's Node bindings (index.js and the linux-x64 dawn.node)
//   node.xz            this machine's Node binary, xz-compressed (unpacked by run.sh on first use)
//   lib/libvulkan.so.1 a Vulkan loader, used where the machine has none
//   run.sh             finds a Vulkan GPU driver and runs everything into result.json (< 4 minutes)
//   kit.json           the commit it was built from
// Under 64 MiB in all (the most a lent device machine takes along); the size is printed.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The most a device run carries along, and so the kit's hard limit. */
const KIT_LIMIT_BYTES = 64 * 2 ** 20;

const repo = fileURLToPath(new URL('../../', import.meta.url));
/** Compressed Node binaries, by version and identity: xz takes ~10 s, so rebuilds reuse them. */
const cacheDir = join(repo, 'node_modules/.cache/coca-device-kit');
/** Where Debian (libvulkan1) and other distributions put the Vulkan loader. */
const LOADER_DIRS = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib64'];

function git(...args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: repo, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

/** This machine's Node binary, xz-compressed (cached), after checking it can run on another machine. */
function compressedNode(): string {
  const binary = realpathSync(process.execPath);
  const ldd = (() => {
    try {
      return execFileSync('ldd', [binary], { encoding: 'utf8' });
    } catch {
      return '';
    }
  })();
  if (/libnode\.so/.test(ldd)) {
    throw new Error(`${binary} is a distribution build that links libnode.so, which the GPU machine may not have: build the kit with the official Node binary from nodejs.org`);
  }
  const { size, mtimeMs } = statSync(binary);
  const cached = join(cacheDir, `node-${process.version}-${size}-${Math.round(mtimeMs)}.xz`);
  if (!existsSync(cached)) {
    mkdirSync(cacheDir, { recursive: true });
    try {
      execFileSync('sh', ['-c', 'xz -T0 -1 -c "$0" > "$1.partial" && mv "$1.partial" "$1"', binary, cached], { stdio: ['ignore', 'ignore', 'inherit'] });
    } catch {
      throw new Error('compressing the Node binary failed: install xz (Debian: apt-get install xz-utils)');
    }
  }
  return cached;
}

function vulkanLoader(): string {
  for (const dir of LOADER_DIRS) {
    const file = join(dir, 'libvulkan.so.1');
    if (existsSync(file)) return realpathSync(file);
  }
  throw new Error(`no libvulkan.so.1 in ${LOADER_DIRS.join(', ')}: install the Vulkan loader (Debian: apt-get install libvulkan1)`);
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(path) : statSync(path).size;
  }
  return total;
}

async function buildDeviceKit(out: string): Promise<{ bytes: number }> {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`the device kit is built for linux-x64 GPU machines, from a linux-x64 machine (this is ${process.platform}-${process.arch})`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  await build({
    entryPoints: [join(repo, 'src/bench/device.ts')],
    outfile: join(out, 'coca-bench.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['webgpu'],
    logLevel: 'warning',
  });
  cpSync(join(repo, 'shaders'), join(out, 'shaders'), { recursive: true });

  const webgpu = join(repo, 'node_modules/webgpu');
  const dawn = join(out, 'node_modules/webgpu');
  mkdirSync(join(dawn, 'dist/linux-x64'), { recursive: true });
  for (const file of ['package.json', 'index.js', 'LICENSE.md']) copyFileSync(join(webgpu, file), join(dawn, file));
  copyFileSync(join(webgpu, 'dist/linux-x64/dawn.node'), join(dawn, 'dist/linux-x64/dawn.node'));

  copyFileSync(compressedNode(), join(out, 'node.xz'));
  mkdirSync(join(out, 'lib'));
  copyFileSync(vulkanLoader(), join(out, 'lib/libvulkan.so.1'));

  const runSh = join(out, 'run.sh');
  copyFileSync(join(repo, 'src/bench/device-kit-run.sh'), runSh);
  chmodSync(runSh, 0o755);
  const dawnVersion = (JSON.parse(readFileSync(join(webgpu, 'package.json'), 'utf8')) as { version: string }).version;
  writeFileSync(join(out, 'kit.json'), `${JSON.stringify({ commit: git('rev-parse', 'HEAD'), uncommitted_changes: git('status', '--porcelain').length > 0, built_at: new Date().toISOString(), node: process.version, webgpu: dawnVersion }, null, 1)}\n`);

  const bytes = folderBytes(out);
  if (bytes >= KIT_LIMIT_BYTES) throw new Error(`the kit is ${(bytes / 2 ** 20).toFixed(1)} MiB, over the ${KIT_LIMIT_BYTES / 2 ** 20} MiB a device run can carry`);
  return { bytes };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--out');
  const out = resolve(i >= 0 && argv[i + 1] ? argv[i + 1]! : join(repo, 'device-kit'));
  const { bytes } = await buildDeviceKit(out);
  console.log(`device kit: ${out} (${(bytes / 2 ** 20).toFixed(1)} MiB of ${KIT_LIMIT_BYTES / 2 ** 20} MiB). Copy the folder to a GPU machine and run ./run.sh there; it writes result.json.`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:device: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
