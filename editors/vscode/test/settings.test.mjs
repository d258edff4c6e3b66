// Workspace trust: a repository's `.vscode/settings.json` must not make spot run a command or
// load a library. Checks package.json's declarations and src/settings.ts itself (bundled by
// test/bundle.mjs against a stand-in `vscode`; the configuration below answers `inspect()` with
// user, workspace and folder values). No VS Code needed: npm test.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadSrc } from './bundle.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ext = path.join(here, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ext, 'package.json'), 'utf8'));
const props = pkg.contributes.configuration.properties;

/** Scopes a workspace (or folder) settings file can set. */
const WORKSPACE_SCOPES = new Set([undefined, 'window', 'resource', 'language-overridable', 'machine-overridable']);

const loadSettings = () => loadSrc('settings.ts');

/**
 * A `spot` configuration section with values per level, as VS Code's merges them: `get` returns
 * the most specific value whatever the setting's scope (the case a buggy client would trust).
 */
function config({ user = {}, workspace = {}, folder = {} }) {
  const defaults = Object.fromEntries(Object.entries(props).map(([k, p]) => [k.slice('spot.'.length), p.default]));
  return {
    get(key) {
      return folder[key] ?? workspace[key] ?? user[key] ?? defaults[key];
    },
    inspect(key) {
      return { key: `spot.${key}`, defaultValue: defaults[key], globalValue: user[key], workspaceValue: workspace[key], workspaceFolderValue: folder[key] };
    },
  };
}

test('settings that run or load code are machine-scoped and restricted in untrusted workspaces', async () => {
  const { EXECUTABLE_SETTINGS } = await loadSettings();
  const executable = EXECUTABLE_SETTINGS.map((k) => `spot.${k}`);
  assert.deepEqual([...executable].sort(), ['spot.modelDir', 'spot.ortPath', 'spot.path', 'spot.testCommand']);
  const cap = pkg.capabilities?.untrustedWorkspaces;
  assert.equal(cap?.supported, 'limited', 'capabilities.untrustedWorkspaces.supported');
  assert.ok(cap.description, 'capabilities.untrustedWorkspaces.description');
  assert.deepEqual([...cap.restrictedConfigurations].sort(), [...executable].sort());
  for (const key of executable) {
    assert.equal(props[key]?.scope, 'machine', `${key} must be user-only (scope machine), not ${props[key]?.scope}`);
  }
  // Any other free-form string could name a program or a path: only enums and numbers may be
  // set by a workspace.
  for (const [key, p] of Object.entries(props)) {
    if (WORKSPACE_SCOPES.has(p.scope) && p.type === 'string' && !p.enum) {
      assert.fail(`${key} is a free-form string a workspace can set (scope ${p.scope ?? 'window'}): make it machine-scoped and list it in restrictedConfigurations, or explain here why it is safe`);
    }
  }
});

test('workspace and folder values of the executable settings are ignored', async () => {
  const { serverSettings, serverPath } = await loadSettings();
  const evil = {
    path: '/tmp/evil-spot',
    modelDir: '/tmp/evil-model',
    ortPath: '/tmp/evil-libonnxruntime.so',
    testCommand: 'touch /tmp/pwned',
    provider: 'cpu',
  };
  for (const trusted of [true, false]) {
    for (const level of ['workspace', 'folder']) {
      const c = config({ [level]: evil });
      const s = serverSettings(c, trusted);
      assert.equal(s.modelDir, undefined, `${level} modelDir (trusted ${trusted})`);
      assert.equal(s.ortPath, undefined, `${level} ortPath (trusted ${trusted})`);
      assert.equal(s.testCommand, undefined, `${level} testCommand (trusted ${trusted})`);
      assert.equal(s.provider, 'cpu', 'an enum setting still comes from the workspace');
      assert.equal(serverPath(c), 'spot', `${level} path (trusted ${trusted})`);
    }
  }
  // The user's values win over the workspace's.
  const user = { path: '/opt/spot', modelDir: '/models/m', ortPath: '/lib/ort.so', testCommand: 'pytest -q' };
  const c = config({ user, workspace: evil });
  assert.deepEqual(serverSettings(c, true), { modelDir: '/models/m', ortPath: '/lib/ort.so', testCommand: 'pytest -q', provider: 'cpu', maxFileSize: 1048576, logLevel: 'info', learning: { trigger: 'manual', everyNCommits: 20, idleMinutes: 30 }, rerank: 0 });
  assert.equal(serverPath(c), '/opt/spot');
});

test('the binary a platform vsix ships is used unless the user set spot.path', async () => {
  const { serverPath, setBundledBinary } = await loadSettings();
  setBundledBinary('/ext/bin/spot');
  try {
    assert.equal(serverPath(config({})), '/ext/bin/spot');
    assert.equal(serverPath(config({ workspace: { path: '/tmp/evil-spot' } })), '/ext/bin/spot');
    assert.equal(serverPath(config({ user: { path: '/opt/spot' } })), '/opt/spot');
  } finally {
    setBundledBinary(undefined);
  }
  assert.equal(serverPath(config({})), 'spot');
});

test('an untrusted workspace gets no test command, not even the user\'s', async () => {
  const { serverSettings, ignoredSettingsNote } = await loadSettings();
  const c = config({ user: { testCommand: 'python3 -m pytest -q', modelDir: '/models/m' } });
  assert.equal(serverSettings(c, false).testCommand, undefined);
  assert.equal(serverSettings(c, false).modelDir, '/models/m');
  assert.equal(serverSettings(c, true).testCommand, 'python3 -m pytest -q');
  assert.match(ignoredSettingsNote(c, false), /not used until you trust/);
  assert.equal(ignoredSettingsNote(c, true), undefined);
  assert.match(ignoredSettingsNote(config({ workspace: { testCommand: 'x' } }), true), /spot\.testCommand in the workspace's settings is ignored/);
});

test('src/ reads the executable settings only through src/settings.ts', () => {
  // A `config.get('testCommand')` elsewhere would read workspace values again.
  for (const f of fs.readdirSync(path.join(ext, 'src'))) {
    if (f === 'settings.ts' || !f.endsWith('.ts')) continue;
    const text = fs.readFileSync(path.join(ext, 'src', f), 'utf8');
    for (const key of ['path', 'modelDir', 'ortPath', 'testCommand']) {
      assert.doesNotMatch(text, new RegExp(`\\.get(<[^>]*>)?\\(\\s*['"\`](spot\\.)?${key}['"\`]`), `src/${f} reads spot.${key} directly`);
    }
  }
});
