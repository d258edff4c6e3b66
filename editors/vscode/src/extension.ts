// The spot extension: starts `spot lsp` with vscode-languageclient, sends the `spot.*` settings,
// and adds the palette commands, the status-bar item and the quick-fix plumbing around spot's
// LSP extensions (docs/lsp-extensions.md). Standard LSP features come from the client library.
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import {
  ApplyWorkspaceEditParams,
  CancellationToken,
  CancellationTokenSource,
  ChangeAnnotation,
  CreateFile,
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ResponseError,
  RevealOutputChannelOn,
  ServerOptions,
  State,
  TextDocumentEdit,
  WorkDoneProgress,
} from 'vscode-languageclient/node';
import {
  CancelResult,
  Commands,
  ErrorCodes,
  LearnResult,
  LocalizeArgs,
  LocalizeResult,
  PatchResult,
  RollbackResult,
  Status,
  StatusNotification,
} from './protocol';
import { ignoredSettingsNote, serverPath, serverSettings, setBundledBinary } from './settings';
import { isFix, patchMessage, verdictHeadline } from './verdict';
import { pipeServerLog } from './log';
import { StatusBar, statusLines, statusReport } from './status';

const LANGUAGES = ['rust', 'python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact', 'go'];

let client: LanguageClient | undefined;
let output: vscode.LogOutputChannel;
let statusBar: StatusBar;
let progressSeq = 0;
/** The binary the running client was started with (a workspace's spot.path never changes it). */
let startedPath: string | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  // A platform-specific vsix ships the server (package-platform.sh); a plain one uses PATH.
  const bundled = context.asAbsolutePath(path.join('bin', process.platform === 'win32' ? 'spot.exe' : 'spot'));
  setBundledBinary(fs.existsSync(bundled) ? bundled : undefined);
  output = vscode.window.createOutputChannel('spot', { log: true });
  statusBar = new StatusBar('spot.showStatus');
  context.subscriptions.push(
    output,
    statusBar,
    vscode.commands.registerCommand('spot.fixIssue', fixIssue),
    vscode.commands.registerCommand('spot.localizeIssue', localizeIssue),
    vscode.commands.registerCommand('spot.setUpModel', setUpModel),
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
  startedPath = command;
  const serverOptions: ServerOptions = {
    command,
    args: ['lsp'],
    options: { env: process.env },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.map((language) => ({ scheme: 'file', language })),
    initializationOptions: () => serverSettings(),
    outputChannel: output,
    // The server logs `<time> LEVEL target: message` lines to stderr; the client would tag
    // every one of them [error].
    stdioOptions: {
      stdout: (input, channel) => pipeServerLog(input, channel as vscode.LogOutputChannel),
      stderr: (input, channel) => pipeServerLog(input, channel as vscode.LogOutputChannel),
    },
    // spot's failures carry messages meant for the user; the extension shows those itself
    // instead of the client's generic "Request … failed".
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    middleware: {
      provideCodeActions: provideCodeActions,
      resolveCodeAction: resolveCodeAction,
      workspace: {
        handleApplyEdit: async (params, next) => {
          output.info(`workspace/applyEdit: ${params.label ?? '(no label)'}`);
          const result = await next(previewTicked(params), CancellationToken.None);
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
  if (e.affectsConfiguration('spot.path') && serverPath() !== startedPath) {
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
    const settings = serverSettings();
    testLog({ event: 'settings', trusted: vscode.workspace.isTrusted, settings, path: serverPath() });
    void c.sendNotification(DidChangeConfigurationNotification.type, { settings: { spot: settings } });
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
          progress.report({ message: 'review the patch in the Refactor Preview, then Apply (or Discard)' });
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
async function askIssue(title = 'Spot: Fix Issue', verb = 'Fix'): Promise<string | undefined> {
  const selection = selectedText();
  if (selection) {
    const lines = selection.split(/\r?\n/).length;
    const extra = await vscode.window.showInputBox({
      title,
      prompt: `${verb} the selected issue (${lines} line${lines === 1 ? '' : 's'}: “${firstLine(selection, 50)}”). Add details if you like, then press Enter.`,
      placeHolder: 'optional: more details',
      ignoreFocusOut: true,
    });
    if (extra === undefined) {
      return undefined;
    }
    return extra.trim() ? `${selection}\n\n${extra.trim()}` : selection;
  }
  return vscode.window.showInputBox({
    title,
    prompt: 'The issue: title, symptoms, traceback, expected vs. actual. For a multi-line report, select it in an editor first.',
    placeHolder: 'e.g. Bulk discount not applied when ordering exactly 10 units',
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() ? undefined : 'Describe the issue to fix.'),
  });
}

function reportPatch(r: PatchResult): void {
  const tests = r.tests ? `; tests: ${r.tests.command} (failing before: ${r.tests.failingBefore.join(', ') || 'none'})` : '';
  output.info(
    `spot.issueToPatch: ${r.status} — ${r.summary} (${r.candidates} candidate(s), source ${r.source}, verdict ${r.verdict}: ${r.verdictText}${tests})\n${r.diff}`,
  );
  const message = patchMessage(r);
  testLog({ event: 'issueToPatch', result: r, message });
  const showDiff = 'Show Diff';
  // A guess is a warning: the user should read it before trusting it.
  const show = isFix(r) ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
  void show(message, showDiff).then(async (pick) => {
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
// Spot: Localize Issue…

interface LocationPick extends vscode.QuickPickItem {
  uri?: vscode.Uri;
  range?: vscode.Range;
}

async function localizeIssue(arg?: unknown): Promise<void> {
  const c = running();
  if (!c) {
    return;
  }
  let issue = typeof arg === 'string' ? arg : undefined;
  if (!issue?.trim()) {
    issue = await askIssue('Spot: Localize Issue', 'Localize');
  }
  if (!issue?.trim()) {
    return;
  }
  let r: LocalizeResult;
  try {
    r = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'spot: localizing' },
      () => command<LocalizeResult>(c, Commands.localize, [{ issue, limit: 20 } satisfies LocalizeArgs]),
    );
  } catch (e) {
    reportError('spot.localize', e);
    return;
  }
  const toUri = (p: { uri: string | null; path: string }): vscode.Uri | undefined => {
    if (p.uri) {
      return c.protocol2CodeConverter.asUri(p.uri);
    }
    const folder = vscode.workspace.workspaceFolders?.[0];
    return folder ? vscode.Uri.joinPath(folder.uri, p.path) : undefined;
  };
  const items: LocationPick[] = [];
  if (r.functions.length) {
    items.push({ label: 'Functions', kind: vscode.QuickPickItemKind.Separator });
  }
  for (const f of r.functions) {
    items.push({
      label: `$(symbol-function) ${f.name}`,
      description: `${f.path}:${f.range.start.line + 1}`,
      detail: `score ${f.score.toFixed(3)}`,
      uri: toUri(f),
      range: new vscode.Range(f.range.start.line, 0, f.range.start.line, 0),
    });
  }
  if (r.files.length) {
    items.push({ label: 'Files', kind: vscode.QuickPickItemKind.Separator });
  }
  for (const f of r.files) {
    items.push({
      label: `$(file) ${f.path}`,
      description: `score ${f.score.toFixed(3)}`,
      detail: f.reason || undefined,
      uri: toUri(f),
    });
  }
  output.info(`spot.localize: ${r.functions.length} function(s), ${r.files.length} file(s) for "${firstLine(issue, 80)}"`);
  testLog({ event: 'localize', result: r });
  if (!r.files.length && !r.functions.length) {
    void vscode.window.showInformationMessage('spot: nothing in the index matches this issue.');
    return;
  }
  const pick = await vscode.window.showQuickPick(items, {
    title: `spot: where “${firstLine(issue, 50)}” is`,
    placeHolder: 'Functions, then files, most likely first; Enter opens it',
    matchOnDescription: true,
  });
  if (pick?.uri) {
    await vscode.window.showTextDocument(pick.uri, { selection: pick.range, preview: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Spot: Set Up Model

/**
 * Runs `fixtures/models/setup.sh` of the checkout the configured spot binary was built in
 * (`<repo>/target/<profile>/spot`), in a terminal, after asking; restarts the server when it
 * succeeds. A binary installed elsewhere has no setup script beside it: then the exact command
 * is shown with a Copy button. Only the user's own `spot.path` (or `spot` on PATH) leads here,
 * never a workspace setting.
 */
async function setUpModel(): Promise<void> {
  const binary = resolveBinary(serverPath());
  const script = binary ? findSetupScript(binary) : undefined;
  testLog({ event: 'setUpModel', binary, script });
  const command = 'bash fixtures/models/setup.sh';
  if (!script) {
    const copy = 'Copy Command';
    const pick = await vscode.window.showInformationMessage(
      'spot: the model is set up from spot\'s source checkout',
      {
        modal: true,
        detail:
          `Run \`${command}\` in the spot repository (README, “The model runtime”): it installs ONNX Runtime and builds the default model into spot's data dir (a 3 GB download, ~7 GB of disk, a few minutes). ` +
          `This command can run it for you when spot.path points at a spot built in that checkout (${binary ?? 'spot was not found on PATH'}).`,
      },
      copy,
      'Open Settings',
    );
    if (pick === copy) {
      await vscode.env.clipboard.writeText(command);
    } else if (pick === 'Open Settings') {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'spot.path');
    }
    return;
  }
  const run = 'Run Setup';
  const pick = await vscode.window.showInformationMessage(
    'spot: set up the model?',
    {
      modal: true,
      detail: `Runs \`bash ${script}\` in a terminal: it installs ONNX Runtime and builds the default model into spot's data dir (a 3 GB download, ~7 GB of disk, a few minutes). The server restarts when it succeeds.`,
    },
    run,
  );
  if (pick !== run) {
    return;
  }
  const terminal = vscode.window.createTerminal({ name: 'spot: setup', shellPath: 'bash', shellArgs: [script] });
  terminal.show();
  const sub = vscode.window.onDidCloseTerminal((t) => {
    if (t !== terminal) {
      return;
    }
    sub.dispose();
    const code = t.exitStatus?.code;
    output.info(`setup: ${script} exited with ${code}`);
    if (code === 0) {
      void restart();
    } else {
      void vscode.window.showErrorMessage(`spot: setup failed (exit ${code ?? '?'}); its output was in the terminal.`);
    }
  });
}

/** The binary's real path: as configured when it has a slash, else looked up on PATH. */
function resolveBinary(bin: string): string | undefined {
  const real = (p: string): string | undefined => {
    try {
      return fs.statSync(p).isFile() ? fs.realpathSync(p) : undefined;
    } catch {
      return undefined;
    }
  };
  if (bin.includes('/') || bin.includes(path.sep)) {
    return real(bin);
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const found = real(path.join(dir, bin));
    if (found) {
      return found;
    }
  }
  return undefined;
}

/** `<repo>/fixtures/models/setup.sh` for a binary at `<repo>/target/<profile>/spot` (or nearby). */
function findSetupScript(binary: string): string | undefined {
  let dir = path.dirname(binary);
  for (let i = 0; i < 4; i++) {
    const script = path.join(dir, 'fixtures', 'models', 'setup.sh');
    if (fs.existsSync(script) && fs.existsSync(path.join(dir, 'Cargo.toml'))) {
      return script;
    }
    const up = path.dirname(dir);
    if (up === dir) {
      break;
    }
    dir = up;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Code actions: the model runs in codeAction/resolve; show progress with a Cancel button and the
// server's message when no valid edit comes out.

/**
 * The lightbulb asks for code actions on every cursor move (trigger kind Automatic). spot's
 * actions that are not about a diagnostic ("Fix `fn` with spot", "Fix failing test `t` with
 * spot") are offered only when the user asks (Ctrl+., the context menu), so that the lightbulb
 * means "spot has a fix for this error", not "the cursor is in a function".
 */
async function provideCodeActions(
  document: vscode.TextDocument,
  range: vscode.Range,
  context: vscode.CodeActionContext,
  token: vscode.CancellationToken,
  next: (
    document: vscode.TextDocument,
    range: vscode.Range,
    context: vscode.CodeActionContext,
    token: vscode.CancellationToken,
  ) => vscode.ProviderResult<(vscode.Command | vscode.CodeAction)[]>,
): Promise<(vscode.Command | vscode.CodeAction)[] | null | undefined> {
  const actions = await next(document, range, context, token);
  if (!actions || context.triggerKind !== vscode.CodeActionTriggerKind.Automatic) {
    return actions;
  }
  return actions.filter((a) => a instanceof vscode.CodeAction && (a.diagnostics?.length ?? 0) > 0);
}

/** The verdict a resolved code action carries in its `data`, when the server sends one. */
function actionVerdict(action: vscode.CodeAction): { verdict?: string; verdictText?: string } | undefined {
  const data = (action as { data?: unknown }).data;
  if (data && typeof data === 'object' && ('verdict' in data || 'verdictText' in data)) {
    return data as { verdict?: string; verdictText?: string };
  }
  return undefined;
}

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
        const verdict = resolved.edit ? actionVerdict(resolved) : undefined;
        const message = verdict ? `spot: ${verdictHeadline(verdict)} · ${item.title}` : undefined;
        output.info(`codeAction/resolve "${item.title}": ${files.length ? `edits ${files.join(', ')}` : 'no edit'}${message ? ` (${message})` : ''}`);
        testLog({ event: 'codeAction', title: item.title, kind: item.kind?.value, resolved: !!resolved.edit, files, edit: editSummary(resolved.edit), message });
        if (message) {
          void (isFix(verdict!) ? vscode.window.showInformationMessage : vscode.window.showWarningMessage)(message);
        }
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

/**
 * spot marks its patch as needing confirmation, which opens VS Code's Refactor Preview; but
 * there every change that needs confirmation starts unticked, and Apply does nothing until the
 * user ticks each one. Here the patch's own changes lose the mark and one no-op carries it
 * instead: a "create file if missing" of a file the patch edits (so it exists). The preview
 * still opens, hides the no-op (VS Code skips a create of an existing file with ignoreIfExists)
 * and shows every real change ticked. Edits without a confirmation mark pass unchanged.
 */
export function previewTicked(params: ApplyWorkspaceEditParams): ApplyWorkspaceEditParams {
  const { changeAnnotations, documentChanges } = params.edit;
  if (!changeAnnotations || !documentChanges || !Object.values(changeAnnotations).some((a) => a.needsConfirmation)) {
    return params;
  }
  const created = new Set(documentChanges.filter((c) => CreateFile.is(c)).map((c) => (c as CreateFile).uri));
  const existing = documentChanges.find((c): c is TextDocumentEdit => TextDocumentEdit.is(c) && !created.has(c.textDocument.uri));
  if (!existing) {
    return params; // only new files: keep the server's marks
  }
  const annotations: Record<string, ChangeAnnotation> = {};
  for (const [id, a] of Object.entries(changeAnnotations)) {
    annotations[id] = { ...a, needsConfirmation: false };
  }
  const review = 'spot/review';
  annotations[review] = {
    label: 'spot: review the patch',
    needsConfirmation: true,
    description: 'opens this preview; it changes nothing',
  };
  const noop: CreateFile = {
    kind: 'create',
    uri: existing.textDocument.uri,
    options: { ignoreIfExists: true },
    annotationId: review,
  };
  return { ...params, edit: { ...params.edit, changeAnnotations: annotations, documentChanges: [...documentChanges, noop] } };
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
    ...(s.model.error || s.model.state === 'unavailable' ? [{ label: '$(cloud-download) Set up the model', run: setUpModel }] : []),
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
