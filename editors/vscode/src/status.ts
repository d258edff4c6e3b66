// The status-bar item: index state, model state and running jobs, from `spot/status`.
import * as vscode from 'vscode';
import { Status } from './protocol';

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private last: Status | undefined;

  constructor(command: string) {
    this.item = vscode.window.createStatusBarItem('spot.status', vscode.StatusBarAlignment.Left, 10);
    this.item.name = 'spot';
    this.item.command = command;
    this.starting();
    this.item.show();
  }

  get status(): Status | undefined {
    return this.last;
  }

  starting(): void {
    this.last = undefined;
    this.set('$(sync~spin) spot: starting', 'spot: starting the server');
  }

  stopped(why?: string): void {
    this.last = undefined;
    this.set('$(error) spot: stopped', `spot: the server is not running${why ? `\n\n${why}` : ''}`);
    this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
  }

  update(status: Status): void {
    this.last = status;
    this.set(statusText(status), statusTooltip(status));
    if (status.model.error) {
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    }
  }

  private set(text: string, tooltip: string | vscode.MarkdownString): void {
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.backgroundColor = undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}

/** The status-bar text, e.g. `spot: ready · smollm2` or `$(loading~spin) spot: generating`. */
export function statusText(s: Status): string {
  const job = s.jobs[0];
  if (job) {
    const more = s.jobs.length > 1 ? ` (+${s.jobs.length - 1})` : '';
    return `$(loading~spin) spot: ${job.stage || job.kind}${more}`;
  }
  if (s.index.state === 'building') {
    return '$(sync~spin) spot: indexing';
  }
  if (s.model.state === 'loading') {
    return '$(loading~spin) spot: loading model';
  }
  if (s.learn?.state === 'running') {
    return '$(loading~spin) spot: learning';
  }
  if (s.model.error || s.model.state === 'unavailable') {
    // Checked at server start without loading: say so before the first fix is asked for.
    return '$(warning) spot: no model: run setup';
  }
  if (s.index.state === 'none') {
    return '$(circle-slash) spot: no workspace';
  }
  const name = shortModelName(s.model.name);
  return name ? `spot: ready · ${name}` : 'spot: ready';
}

/** `smollm2-135m-instruct` → `smollm2`; other names as they are. */
export function shortModelName(name: string | undefined): string {
  if (!name) {
    return '';
  }
  const first = name.split('-')[0];
  return first.length >= 3 ? first : name;
}

export function statusTooltip(s: Status): vscode.MarkdownString {
  const md = new vscode.MarkdownString(undefined, true);
  md.appendMarkdown(`**spot** ${s.version ?? ''}\n\n`);
  if (s.model.error) {
    md.appendMarkdown(`**No model:** ${escape(s.model.error)}\n\nRun **Spot: Set Up Model**, or set \`spot.modelDir\` in your user settings.\n\n`);
  }
  for (const l of statusLines(s)) {
    const rest = l.description ? ` — ${escape(l.description)}` : '';
    md.appendMarkdown(`- **${l.label}**: ${escape(l.state)}${rest}\n`);
  }
  md.appendMarkdown('\nClick for details.');
  return md;
}

export interface StatusLine {
  /** `Index`, `Model`, `Jobs`, `Learning`. */
  label: string;
  /** The state word: `ready`, `building`, `unavailable`, … */
  state: string;
  /** Counts, names, provider. */
  description: string;
  /** Paths and error messages. */
  detail: string;
}

/** One line each for index, model, jobs, learning: the tooltip and "Spot: Show Status". */
export function statusLines(s: Status): StatusLine[] {
  const lines: StatusLine[] = [];
  const idx = s.index;
  lines.push({
    label: 'Index',
    state: idx.state,
    description: idx.files !== undefined ? `${idx.files} files, ${idx.symbols ?? 0} symbols` : '',
    detail: idx.root ?? '',
  });
  const m = s.model;
  lines.push({
    label: 'Model',
    state: m.state,
    description: [m.name ?? 'default model', m.provider].filter(Boolean).join(' · '),
    detail: [m.dir, m.error].filter(Boolean).join(' — '),
  });
  lines.push({
    label: 'Jobs',
    state: s.jobs.length ? `${s.jobs.length} running` : 'none',
    description: s.jobs.map((j) => `#${j.id} ${j.kind}: ${j.message || j.stage}`).join('; '),
    detail: '',
  });
  if (s.learn) {
    lines.push({ label: 'Learning', state: s.learn.state, description: s.learn.message ?? '', detail: '' });
  }
  return lines;
}

/** Plain text, one line per entry (the output channel). */
export function statusReport(s: Status): string {
  const rows = statusLines(s).map((l) => {
    const rest = [l.description, l.detail].filter(Boolean).join(' — ');
    return `${l.label}: ${l.state}${rest ? ` — ${rest}` : ''}`;
  });
  return [`spot ${s.version ?? ''}`.trim(), ...rows].join('\n');
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
