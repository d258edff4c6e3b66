// Generated from crates/spot-lsp/src/ext.rs by its test (ts-rs); do not edit.
// Regenerate: UPDATE_EXPECT=1 cargo test -p spot-lsp ext

export const Commands = {
  issueToPatch: 'spot.issueToPatch',
  localize: 'spot.localize',
  status: 'spot.status',
  cancel: 'spot.cancel',
  learn: 'spot.learn',
} as const;

export const StatusNotification = 'spot/status';

export const ErrorCodes = {
  requestFailed: -32803,
  invalidParams: -32602,
  requestCancelled: -32800,
} as const;

export type IssueToPatchArgs = { issue: string, 
/**
 * Send the edit to the client with `workspace/applyEdit` (default true).
 */
apply?: boolean, 
/**
 * Aim at this failing test (its runner's id or name, as the `Fix failing test` code action
 * gives it) instead of every test that fails.
 */
targetTest?: string, };

export type LocalizeArgs = { issue: string, 
/**
 * Files and functions to list (default 10).
 */
limit?: number, };

export type PatchStatus = "applied" | "rejected" | "proposed";

export type PatchSource = "answer" | "oneLineEdit" | "testedEdit";

export type Verdict = "fixesFailingTests" | "passesTests" | "unverified";

export type Evidence = "failingTests" | "testFrames" | "coverage" | "issueFrames" | "reproductionTest" | "text" | "model";

export type TestSummary = { command: string, 
/**
 * `pytest`, `unittest`, `cargo`, `go`, `jest`, `tap`, … or `unknown`.
 */
runner: string, 
/**
 * The tests that failed before the edit (the target).
 */
failingBefore: Array<string>, passedBefore?: number, passedAfter?: number, 
/**
 * Why the tests could not judge, when they could not.
 */
unusable?: string, 
/**
 * A reproduction test spot wrote (part of the edit), by name.
 */
reproduction?: string, };

export type PatchResult = { status: PatchStatus, 
/**
 * Unified diff of the edit.
 */
diff: string, 
/**
 * Workspace-relative paths it changes.
 */
files: Array<string>, edit: unknown, 
/**
 * Model answers generated.
 */
candidates: number, source: PatchSource, 
/**
 * What the tests say of it.
 */
verdict: Verdict, 
/**
 * The verdict in words, for people (`fixes the 1 failing test`, `a guess: not tested`).
 */
verdictText: string, 
/**
 * What the test command reported, when one ran.
 */
tests: TestSummary | null, evidence: Array<Evidence>, 
/**
 * One line: `1 file changed: inventory/pricing.py`.
 */
summary: string, 
/**
 * Why the client rejected it, when it said.
 */
reason?: string, };

export type LocalizedFile = { path: string, uri: string | null, score: number, reason: string, };

export type LocalizedFunction = { name: string, path: string, uri: string | null, 
/**
 * Whole lines: from the function's first line to the line after its last.
 */
range: { start: { line: number, character: number }, end: { line: number, character: number } }, score: number, };

export type LocalizeResult = { files: Array<LocalizedFile>, functions: Array<LocalizedFunction>, };

export type IndexState = "none" | "building" | "ready";

export type IndexStatus = { state: IndexState, files?: number, symbols?: number, root?: string, 
/**
 * Buffer edits received but not yet in the index (not a reason to push a status).
 */
pendingChanges?: number, };

export type ModelState = "unloaded" | "loading" | "ready" | "unavailable";

export type ModelStatus = { state: ModelState, dir: string, 
/**
 * The model directory's name (`smollm2-135m-instruct`, `v3`).
 */
name: string, provider?: string, 
/**
 * Why it is unavailable, or (unloaded) why loading it would fail: checked at start without
 * loading, so an editor can say "no model: run setup" before the first fix is asked for.
 */
error?: string, };

export type JobKind = "issueToPatch" | "codeAction" | "learn";

export type Job = { 
/**
 * A JSON number (never near 2^53).
 */
id: number, kind: JobKind, 
/**
 * The stage's name: `starting`, `loadingModel`, `localizing`, `testing`, `generating`,
 * `validating`, `ranking`, `learning`.
 */
stage: string, 
/**
 * The stage in words, for people (`generating: candidate 1/3, 16 tokens`).
 */
message: string, };

export type LearnState = "idle" | "running" | "failed" | "installed";

export type LearnStatus = { state: LearnState, message?: string, };

export type Status = { version: string, index: IndexStatus, model: ModelStatus, jobs: Array<Job>, learn: LearnStatus, };

export type CancelResult = { cancelled: number, };

export type LearnArgs = { rollback?: boolean, };

export type LearnResult = { started: boolean, job: number, };

export type RollbackResult = { rolledBack: boolean, active: string | null, };

export type ActionData = { uri: string, 
/**
 * 0-based line the fix is focused on.
 */
line: number, 
/**
 * The issue text the fix works from.
 */
issue: string, 
/**
 * Set on `Fix failing test`: the test to make pass (the test command must be set).
 */
targetTest?: string, 
/**
 * Set by `codeAction/resolve`: what the tests say of the edit (a guess unless
 * `fixesFailingTests`), for the editor to show.
 */
verdict?: Verdict, verdictText?: string, };
