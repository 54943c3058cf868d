// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) with WebGPU on SwiftShader,
// pointed at a Vite dev server over this repository.
import { chromium, type Browser } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { fileURLToPath } from 'node:url';

export const CHROMIUM_FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, args: [...CHROMIUM_FLAGS, ...extraArgs] });
}

export async function startViteServer(): Promise<{ server: ViteDevServer; url: string }> {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const server = await createServer({
    root,
    configFile: false,
    logLevel: 'error',
    // No HMR and no file watcher: other work in the same checkout must not reload a page mid-test.
    server: { port: 0, host: '127.0.0.1', hmr: false, watch: null, fs: { allow: [root, fileURLToPath(new URL('../../../shared/', import.meta.url))] } },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await server.listen();
  const address = server.httpServer!.address();
  if (!address || typeof address === 'string') throw new Error('vite server has no port');
  return { server, url: `http://127.0.0.1:${address.port}` };
}
