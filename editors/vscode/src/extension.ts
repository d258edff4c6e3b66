// The spot extension: starts `spot lsp` with vscode-languageclient, sends the `spot.*` settings,
// and adds the palette commands, the status-bar item and the quick-fix plumbing around spot's
// LSP extensions (docs/lsp-extensions.md). Standard LSP features come from the client library.
import * as fs from 'fs';
import * as vscode from 'vscode';
import {
  CancellationToken,
  CancellationTokenSource,
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ResponseError,
  RevealOutputChannelOn,
  ServerOptions,
  State,
  WorkDoneProgress,
} from 'vscode-languageclient/node';
import {
  CancelResult,
  Commands,
  ErrorCodes,
  LearnResult,
  PatchResult,
  RollbackResult,
  Status,
  StatusNotification,
} from './protocol';
import { ignoredSettingsNote, serverPath, serverSettings } from './settings';
import { StatusBar, statusLines, statusReport } from './status';

const LANGUAGES = ['rust', 'python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go'];

let client: LanguageClient | undefined;
let output: vscode.LogOutputChannel;
let statusBar: StatusBar;
let progressSeq = 0;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('spot', { log: true });
  statusBar = new StatusBar('spot.showStatus');
  context.subscriptions.push(
    output,
    statusBar,
    vscode.commands.registerCommand('spot.fixIssue', fixIssue),
    vscode.commands.registerCommand('spot.learnRepository', learn),
    vscode.commands.registerCommand('spot.rollbackModel', rollback),
    vscode.commands.registerCommand('spot.cancelJobs', cancelJobs),
    vscode.commands.registerCommand('spot.showStatus', showStatus),
    vscode.commands.registerCommand('spot.restartServer', restart),
    vscode.commands.registerCommand('spot.showOutput', () => output.show(true)),
    vscode.workspace.onDidChangeConfiguration(onConfigurationChanged),
    // Trusting the workspace lets spot run its tests (spot.testCommand).
    vscode.workspace.onDidGrantWorkspaceTrust(sendSettings),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  const c = client;
  client = undefined;
  await c?.dispose(2000).catch(() => undefined);
}

// ---------------------------------------------------------------------------------------------
// The client

function createClient(): LanguageClient {
  const command = serverPath();
  const serverOptions: ServerOptions = {
    command,
    args: ['lsp'],
    options: { env: process.env },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.map((language) => ({ scheme: 'file', language })),
    initializationOptions: () => serverSettings(),
    outputChannel: output,
    // spot's failures carry messages meant for the user; the extension shows those itself
    // instead of the client's generic "Request … failed".
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    middleware: {
      resolveCodeAction: resolveCodeAction,
      workspace: {
        handleApplyEdit: async (params, next) => {
          output.info(`workspace/applyEdit: ${params.label ?? '(no label)'}`);
          const result = await next(params, CancellationToken.None);
          const applied = !(result instanceof ResponseError) && result.applied;
          output.info(`workspace/applyEdit: ${applied ? 'applied' : 'not applied'}`);
          return result;
        },
      },
    },
  };
  const c = new LanguageClient('spot', 'spot', serverOptions, clientOptions);
  c.onDidChangeState((e) => {
    void vscode.commands.executeCommand('setContext', 'spot.running', e.newState === State.Running);
    if (e.newState === State.Stopped && client === c) {
      statusBar.stopped();
    }
  });
  return c;
}

async function start(): Promise<void> {
  const c = createClient();
  client = c;
  statusBar.starting();
  const note = ignoredSettingsNote();
  if (note) {
    output.warn(note);
  }
  testLog({ event: 'settings', trusted: vscode.workspace.isTrusted, settings: serverSettings(), path: serverPath() });
  // Registered before start so that the first notifications (indexing) are not missed.
  c.onNotification(StatusNotification, (s: Status) => {
    if (client === c) {
      statusBar.update(s);
      testLog({ event: 'status', status: s });
    }
  });
  try {
    await c.start();
  } catch (e) {
    const why = errorMessage(e);
    statusBar.stopped(why);
    output.error(`could not start \`${serverPath()} lsp\`: ${why}`);
    void vscode.window
      .showErrorMessage(
        `spot: could not start \`${serverPath()} lsp\` (${why}). Set spot.path to the spot binary.`,
        'Open Settings',
        'Show Output',
      )
      .then((pick) => {
        if (pick === 'Open Settings') {
          void vscode.commands.executeCommand('workbench.action.openSettings', 'spot.path');
        } else if (pick === 'Show Output') {
          output.show(true);
        }
      });
    return;
  }
  try {
    const s = await command<Status>(c, Commands.status);
    if (client === c && statusBar.status === undefined) {
      statusBar.update(s);
    }
  } catch (e) {
    output.warn(`spot.status: ${errorMessage(e)}`);
  }
}

async function restart(): Promise<void> {
  const old = client;
  client = undefined;
  if (old) {
    await old.dispose(2000).catch((e) => output.warn(`stopping the server: ${errorMessage(e)}`));
  }
  output.info('restarting the server');
  await start();
}

function onConfigurationChanged(e: vscode.ConfigurationChangeEvent): void {
  if (!e.affectsConfiguration('spot')) {
    return;
  }
  if (e.affectsConfiguration('spot.path')) {
    void restart();
    return;
  }
  sendSettings();
}

function sendSettings(): void {
  const note = ignoredSettingsNote();
  if (note) {
    output.warn(note);
  }
  const c = client;
  if (c?.isRunning()) {
    void c.sendNotification(DidChangeConfigurationNotification.type, {
      settings: { spot: serverSettings() },
    });
  }
}

/** The running client, or a message saying why there is none. */
function running(): LanguageClient | undefined {
  if (client?.isRunning()) {
    return client;
  }
  void vscode.window
    .showErrorMessage('spot: the server is not running.', 'Restart Server', 'Show Output')
    .then((pick) => {
      if (pick === 'Restart Server') {
        void restart();
      } else if (pick === 'Show Output') {
        output.show(true);
      }
    });
  return undefined;
}

function command<R>(
  c: LanguageClient,
  name: string,
  args: unknown[] = [],
  token?: vscode.CancellationToken,
  workDoneToken?: string,
): Promise<R> {
  return c.sendRequest(ExecuteCommandRequest.type, { command: name, arguments: args, workDoneToken }, token) as Promise<R>;
}

// ---------------------------------------------------------------------------------------------
// Spot: Fix Issue…

async function fixIssue(arg?: unknown): Promise<void> {
  const c = running();
  if (!c) {
    return;
  }
  let issue = typeof arg === 'string' ? arg : undefined;
  if (!issue?.trim()) {
    issue = await askIssue();
  }
  if (!issue?.trim()) {
    return;
  }
  const title = `spot: ${firstLine(issue, 60)}`;
  output.info(`spot.issueToPatch: ${firstLine(issue, 200)}`);
  type Outcome = { ok: PatchResult } | { err: unknown };
  const result = await vscode.window.withProgress<Outcome>(
    { location: vscode.ProgressLocation.Notification, title, cancellable: true },
    async (progress, token) => {
      const workDoneToken = `spot-vscode/${++progressSeq}`;
      const progressSub = c.onProgress(WorkDoneProgress.type, workDoneToken, (v) => {
        if (v.kind === 'end') {
          progress.report({ message: 'review the patch in the Refactor Preview: tick its changes, then Apply (or Discard)' });
        } else if (v.message) {
          progress.report({ message: v.message });
        }
      });
      const cancelSub = token.onCancellationRequested(() => {
        // `$/cancelRequest` goes out through the request's token; spot.cancel also stops the
        // work the server already handed to its blocking pool.
        command<CancelResult>(c, Commands.cancel).catch(() => undefined);
      });
      progress.report({ message: 'localizing' });
      try {
        const r = await command<PatchResult>(c, Commands.issueToPatch, [{ issue }], token, workDoneToken);
        return { ok: r };
      } catch (e) {
        return { err: e };
      } finally {
        progressSub.dispose();
        cancelSub.dispose();
      }
    },
  );
  if ('ok' in result) {
    reportPatch(result.ok);
  } else {
    reportError('spot.issueToPatch', result.err);
  }
}

/**
 * The issue text. An input box is one line, so a multi-line issue (a pasted report with a
 * traceback) is best selected in any editor first: the selection is taken whole, newlines
 * included, and the box only asks for optional extra words.
 */
async function askIssue(): Promise<string | undefined> {
  const selection = selectedText();
  if (selection) {
    const lines = selection.split(/\r?\n/).length;
    const extra = await vscode.window.showInputBox({
      title: 'Spot: Fix Issue',
      prompt: `Fix the selected issue (${lines} line${lines === 1 ? '' : 's'}: “${firstLine(selection, 50)}”). Add details if you like, then press Enter.`,
      placeHolder: 'optional: more details',
      ignoreFocusOut: true,
    });
    if (extra === undefined) {
      return undefined;
    }
    return extra.trim() ? `${selection}\n\n${extra.trim()}` : selection;
  }
  return vscode.window.showInputBox({
    title: 'Spot: Fix Issue',
    prompt: 'The issue to fix: title, symptoms, traceback, expected vs. actual. For a multi-line report, select it in an editor first.',
    placeHolder: 'e.g. Bulk discount not applied when ordering exactly 10 units',
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() ? undefined : 'Describe the issue to fix.'),
  });
}

function reportPatch(r: PatchResult): void {
  output.info(`spot.issueToPatch: ${r.status} — ${r.summary} (${r.candidates} candidate(s))\n${r.diff}`);
  testLog({ event: 'issueToPatch', result: r });
  const showDiff = 'Show Diff';
  let message: string;
  switch (r.status) {
    case 'applied':
      message = `spot: applied — ${r.summary}`;
      break;
    case 'rejected':
      message = `spot: the patch was not applied (${r.reason ?? 'discarded'}) — ${r.summary}`;
      break;
    default:
      message = `spot: proposed — ${r.summary}`;
  }
  void vscode.window.showInformationMessage(message, showDiff).then(async (pick) => {
    if (pick === showDiff) {
      const doc = await vscode.workspace.openTextDocument({ language: 'diff', content: r.diff });
      await vscode.window.showTextDocument(doc, { preview: true });
    }
  });
}

function reportError(what: string, e: unknown, details: Record<string, unknown> = {}): void {
  if (isCancelled(e)) {
    output.info(`${what}: cancelled`);
    testLog({ event: what, cancelled: true, ...details });
    void vscode.window.showInformationMessage('spot: cancelled.');
    return;
  }
  const message = errorMessage(e);
  output.error(`${what}: ${message}`);
  testLog({ event: what, error: message, code: e instanceof ResponseError ? e.code : undefined, ...details });
  void vscode.window.showErrorMessage(`spot: ${message}`, 'Show Output').then((pick) => {
    if (pick) {
      output.show(true);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Code actions: the model runs in codeAction/resolve; show progress with a Cancel button and the
// server's message when no valid edit comes out.

async function resolveCodeAction(
  item: vscode.CodeAction,
  token: vscode.CancellationToken,
  next: (item: vscode.CodeAction, token: vscode.CancellationToken) => vscode.ProviderResult<vscode.CodeAction>,
): Promise<vscode.CodeAction> {
  if (item.edit) {
    return item;
  }
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: item.title, cancellable: true },
    async (progress, userToken) => {
      progress.report({ message: 'running the model' });
      const source = new CancellationTokenSource();
      const subs = [
        token.onCancellationRequested(() => source.cancel()),
        userToken.onCancellationRequested(() => source.cancel()),
      ];
      try {
        const resolved = (await next(item, source.token)) ?? item;
        const files = resolved.edit?.entries().map(([uri]) => vscode.workspace.asRelativePath(uri)) ?? [];
        output.info(`codeAction/resolve "${item.title}": ${files.length ? `edits ${files.join(', ')}` : 'no edit'}`);
        testLog({ event: 'codeAction', title: item.title, resolved: !!resolved.edit, files, edit: editSummary(resolved.edit) });
        return resolved;
      } catch (e) {
        reportError('codeAction', e, { title: item.title });
        return item;
      } finally {
        subs.forEach((s) => s.dispose());
        source.dispose();
      }
    },
  );
}

/** A JSON view of a workspace edit (file → edits), for the output channel and the test log. */
function editSummary(edit: vscode.WorkspaceEdit | undefined): unknown {
  if (!edit) {
    return undefined;
  }
  return edit.entries().map(([uri, edits]) => ({
    file: vscode.workspace.asRelativePath(uri),
    edits: edits.map((e) => ({
      start: [e.range.start.line, e.range.start.character],
      end: [e.range.end.line, e.range.end.character],
      newText: e.newText,
    })),
  }));
}

// ---------------------------------------------------------------------------------------------
// Spot: Learn / Cancel / Show Status

async function learn(): Promise<void> {
  const c = running();
  if (!c) {
    return;
  }
  try {
    const r = await command<LearnResult>(c, Commands.learn);
    output.info(`spot.learn: ${JSON.stringify(r)}`);
    testLog({ event: 'learn', result: r });
    void vscode.window.showInformationMessage(
      `spot: learning started${r.job !== undefined ? ` (job ${r.job})` : ''}; the status bar shows its progress.`,
    );
  } catch (e) {
    reportError('spot.learn', e);
  }
}

async function rollback(): Promise<void> {
  const c = running();
  if (!c) {
    return;
  }
  try {
    const r = await command<RollbackResult>(c, Commands.learn, [{ rollback: true }]);
    output.info(`spot.learn rollback: ${JSON.stringify(r)}`);
    testLog({ event: 'rollback', result: r });
    void vscode.window.showInformationMessage(
      `spot: now using ${r.active ? `learned model ${r.active}` : 'the default model'}.`,
    );
  } catch (e) {
    reportError('spot.learn', e);
  }
}

async function cancelJobs(): Promise<void> {
  const c = running();
  if (!c) {
    return;
  }
  try {
    const r = await command<CancelResult>(c, Commands.cancel);
    testLog({ event: 'cancel', result: r });
    void vscode.window.showInformationMessage(
      r.cancelled ? `spot: cancelled ${r.cancelled} job${r.cancelled === 1 ? '' : 's'}.` : 'spot: no job was running.',
    );
  } catch (e) {
    reportError('spot.cancel', e);
  }
}

interface StatusPick extends vscode.QuickPickItem {
  run?: () => unknown;
}

async function showStatus(): Promise<void> {
  const c = running();
  if (!c) {
    return;
  }
  let s: Status;
  try {
    s = await command<Status>(c, Commands.status);
  } catch (e) {
    reportError('spot.status', e);
    return;
  }
  statusBar.update(s);
  output.info(`spot.status:\n${statusReport(s)}`);
  testLog({ event: 'showStatus', status: s });
  const icons: Record<string, string> = { Index: 'database', Model: 'hubot', Jobs: 'tasklist', Learning: 'mortar-board' };
  const items: StatusPick[] = statusLines(s).map((l) => ({
    label: `$(${icons[l.label] ?? 'info'}) ${l.label}: ${l.state}`,
    description: l.description,
    detail: l.detail || undefined,
  }));
  items.push(
    { label: 'Actions', kind: vscode.QuickPickItemKind.Separator },
    { label: '$(debug-stop) Cancel running jobs', run: cancelJobs },
    { label: '$(output) Show output', run: () => output.show(true) },
    { label: '$(debug-restart) Restart server', run: restart },
    {
      label: '$(copy) Copy status as JSON',
      run: () => vscode.env.clipboard.writeText(JSON.stringify(s, null, 2)),
    },
  );
  const pick = await vscode.window.showQuickPick(items, {
    title: `spot ${s.version ?? ''} — status`.replace('  ', ' '),
    placeHolder: 'Index, model and jobs',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  await pick?.run?.();
}

// ---------------------------------------------------------------------------------------------
// Helpers

function selectedText(): string {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.selection.isEmpty) {
    return '';
  }
  return editor.document.getText(editor.selection).trim();
}

function firstLine(text: string, max: number): string {
  const line =
    text
      .split(/\r?\n/)
      .map((l) => l.trim().replace(/^#+\s*/, ''))
      .find((l) => l !== '') ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function isCancelled(e: unknown): boolean {
  return (
    e instanceof vscode.CancellationError ||
    (e instanceof ResponseError && e.code === ErrorCodes.requestCancelled)
  );
}

function errorMessage(e: unknown): string {
  if (e instanceof Error) {
    return e.message;
  }
  return String(e);
}

/** Test hook: with SPOT_VSCODE_TEST_LOG set, results are appended to that file as JSON lines. */
function testLog(entry: Record<string, unknown>): void {
  const file = process.env.SPOT_VSCODE_TEST_LOG;
  if (!file) {
    return;
  }
  try {
    fs.appendFileSync(file, JSON.stringify({ time: Date.now(), ...entry }) + '\n');
  } catch (e) {
    output.warn(`SPOT_VSCODE_TEST_LOG: ${errorMessage(e)}`);
  }
}
