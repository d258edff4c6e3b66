// Loads a src/*.ts module under plain node: esbuild bundles it, with `vscode` replaced by a
// stand-in (the real one exists only inside VS Code). Used by the unit tests in this folder.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const ext = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

const FAKE_VSCODE = `
export const workspace = { isTrusted: false, getConfiguration() { throw new Error('pass a config'); } };
export class MarkdownString {
  constructor(value = '') { this.value = value; }
  appendMarkdown(s) { this.value += s; return this; }
}
export class ThemeColor { constructor(id) { this.id = id; } }
`;

export async function loadSrc(rel) {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'spot-vscode-unit-')), 'module.mjs');
  await esbuild.build({
    entryPoints: [path.join(ext, 'src', rel)],
    bundle: true,
    format: 'esm',
    platform: 'node',
    outfile: out,
    logLevel: 'silent',
    plugins: [
      {
        name: 'fake-vscode',
        setup(b) {
          b.onResolve({ filter: /^vscode$/ }, () => ({ path: 'vscode', namespace: 'fake' }));
          b.onLoad({ filter: /.*/, namespace: 'fake' }, () => ({ contents: FAKE_VSCODE, loader: 'js' }));
        },
      },
    ],
  });
  return import(pathToFileURL(out).href);
}
