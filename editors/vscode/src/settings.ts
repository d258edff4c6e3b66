// VS Code settings (`spot.*`) → the settings object the server validates
// (docs/lsp-extensions.md, "Settings"). `spot.path` is the client's own; empty strings mean
// "the server's default" and are left out, so the server never warns about them.
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

/** Settings that need a server restart instead of `didChangeConfiguration`. */
export const restartSettings = ['spot.path'];

export function serverSettings(config = vscode.workspace.getConfiguration('spot')): ServerSettings {
  const str = (key: string): string | undefined => {
    const v = config.get<string>(key);
    return typeof v === 'string' && v.trim() !== '' ? expandHome(v.trim()) : undefined;
  };
  const num = (key: string): number | undefined => {
    const v = config.get<number>(key);
    return typeof v === 'number' ? v : undefined;
  };
  const settings: ServerSettings = {
    modelDir: str('modelDir'),
    provider: str('provider'),
    ortPath: str('ortPath'),
    maxFileSize: num('maxFileSize'),
    logLevel: str('logLevel'),
    learning: {
      trigger: str('learning.trigger'),
      everyNCommits: num('learning.everyNCommits'),
      idleMinutes: num('learning.idleMinutes'),
    },
    testCommand: str('testCommand'),
    rerank: num('rerank'),
  };
  return prune(settings) as ServerSettings;
}

/** The binary to start: `spot.path`, else `spot` on PATH. */
export function serverPath(config = vscode.workspace.getConfiguration('spot')): string {
  const v = config.get<string>('path');
  return typeof v === 'string' && v.trim() !== '' ? expandHome(v.trim()) : 'spot';
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
