// VS Code settings (`spot.*`) → the settings object the server validates
// (docs/lsp-extensions.md, "Settings"). `spot.path` is the client's own; empty strings mean
// "the server's default" and are left out, so the server never warns about them.
//
// Trust boundary (docs/design, "Trust boundary"): a repository's `.vscode/settings.json` is
// untrusted input. The settings that start a program or load code — `path` (the server binary),
// `ortPath` (a shared library), `modelDir` (a model the runtime loads) and `testCommand` (run
// with `sh -c`) — are `machine`-scoped in package.json and are read here only from the user's
// own settings (`inspect().globalValue`), never from workspace or folder values, whatever their
// scope says. In an untrusted workspace `testCommand` is not sent at all: running the project's
// tests runs the project's code.
import * as vscode from 'vscode';

export interface ServerSettings {
  modelDir?: string;
  provider?: string;
  ortPath?: string;
  maxFileSize?: number;
  logLevel?: string;
  learning?: { trigger?: string; everyNCommits?: number; idleMinutes?: number };
  testCommand?: string;
  rerank?: number;
}

/**
 * Settings that run a command or load a binary or library: user settings only, listed in
 * package.json's `restrictedConfigurations` (test/settings.test.mjs checks both).
 */
export const EXECUTABLE_SETTINGS = ['path', 'modelDir', 'ortPath', 'testCommand'] as const;

/** Settings that need a server restart instead of `didChangeConfiguration`. */
export const restartSettings = ['spot.path'];

type Config = Pick<vscode.WorkspaceConfiguration, 'get' | 'inspect'>;

/** A string from the user's own settings only (not workspace, not folder). */
function userString(config: Config, key: string): string | undefined {
  const v = config.inspect<string>(key)?.globalValue;
  return typeof v === 'string' && v.trim() !== '' ? expandHome(v.trim()) : undefined;
}

export function serverSettings(
  config: Config = vscode.workspace.getConfiguration('spot'),
  trusted: boolean = vscode.workspace.isTrusted,
): ServerSettings {
  const str = (key: string): string | undefined => {
    const v = config.get<string>(key);
    return typeof v === 'string' && v.trim() !== '' ? expandHome(v.trim()) : undefined;
  };
  const num = (key: string): number | undefined => {
    const v = config.get<number>(key);
    return typeof v === 'number' ? v : undefined;
  };
  const settings: ServerSettings = {
    modelDir: userString(config, 'modelDir'),
    provider: str('provider'),
    ortPath: userString(config, 'ortPath'),
    maxFileSize: num('maxFileSize'),
    logLevel: str('logLevel'),
    learning: {
      trigger: str('learning.trigger'),
      everyNCommits: num('learning.everyNCommits'),
      idleMinutes: num('learning.idleMinutes'),
    },
    testCommand: trusted ? userString(config, 'testCommand') : undefined,
    rerank: num('rerank'),
  };
  return prune(settings) as ServerSettings;
}

/** The binary to start: the user's `spot.path`, else `spot` on PATH. */
/** The spot binary shipped inside a platform-specific vsix (`bin/spot`), when there is one. */
let bundledBinary: string | undefined;

/** Called once at activation with the extension's own `bin/spot`, if the vsix ships one. */
export function setBundledBinary(path: string | undefined): void {
  bundledBinary = path;
}

/** The server binary: the user's `spot.path`, else the one the vsix ships, else `spot` on PATH. */
export function serverPath(config: Config = vscode.workspace.getConfiguration('spot')): string {
  return userString(config, 'path') ?? bundledBinary ?? 'spot';
}

/**
 * A note for the output channel when the workspace sets a user-only setting (it is ignored), or
 * the test command is held back because the workspace is not trusted; undefined otherwise.
 */
export function ignoredSettingsNote(
  config: Config = vscode.workspace.getConfiguration('spot'),
  trusted: boolean = vscode.workspace.isTrusted,
): string | undefined {
  const notes: string[] = [];
  for (const key of EXECUTABLE_SETTINGS) {
    const i = config.inspect<string>(key);
    if (i && (i.workspaceValue !== undefined || i.workspaceFolderValue !== undefined)) {
      notes.push(`spot.${key} in the workspace's settings is ignored (it runs or loads code: set it in your user settings)`);
    }
  }
  if (!trusted && userString(config, 'testCommand')) {
    notes.push('spot.testCommand is not used until you trust this workspace (running its tests runs its code)');
  }
  return notes.length ? notes.join('; ') : undefined;
}

function expandHome(p: string): string {
  const home = process.env.HOME ?? process.env.USERPROFILE;
  return home && (p === '~' || p.startsWith('~/')) ? home + p.slice(1) : p;
}

/** Drops undefined fields and empty objects. */
function prune(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    return v;
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const p = prune(x);
    if (p === undefined || (typeof p === 'object' && p !== null && Object.keys(p).length === 0)) {
      continue;
    }
    out[k] = p;
  }
  return out;
}
