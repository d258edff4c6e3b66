// spot's LSP extensions as the client sees them: docs/lsp-extensions.md is the contract, and
// these types mirror it field by field (crates/spot-lsp/src/assist.rs builds the values).

/** `workspace/executeCommand` commands the server advertises. */
export const Commands = {
  issueToPatch: 'spot.issueToPatch',
  localize: 'spot.localize',
  status: 'spot.status',
  cancel: 'spot.cancel',
  learn: 'spot.learn',
} as const;

/** Server → client notification, sent whenever the status changes. */
export const StatusNotification = 'spot/status';

/** JSON-RPC error codes the commands answer with. */
export const ErrorCodes = {
  requestFailed: -32803,
  invalidParams: -32602,
  requestCancelled: -32800,
} as const;

export interface IndexStatus {
  state: 'building' | 'ready' | 'none';
  files?: number;
  symbols?: number;
  root?: string;
  pendingChanges?: number;
}

export interface ModelStatus {
  state: 'unloaded' | 'loading' | 'ready' | 'unavailable';
  dir?: string;
  name?: string;
  provider?: string;
  error?: string;
}

export interface Job {
  id: number;
  kind: 'issueToPatch' | 'codeAction' | 'learn' | string;
  stage: string;
  /** The stage in words (`generating: candidate 1/3, 16 tokens`). */
  message?: string;
}

export interface LearnStatus {
  state: 'idle' | 'running' | 'failed' | 'installed' | string;
  message?: string;
}

/** `spot.status` result and `spot/status` params. */
export interface Status {
  version?: string;
  index: IndexStatus;
  model: ModelStatus;
  jobs: Job[];
  learn?: LearnStatus;
}

/** `spot.issueToPatch` arguments. */
export interface IssueToPatchArgs {
  issue: string;
  apply?: boolean;
  /** A test the patch must make pass (`tests/test_x.py::test_y`). */
  targetTest?: string;
}

/** What spot claims about a patch (see src/verdict.ts for the words shown). */
export type Verdict = 'fixesFailingTests' | 'passesTests' | 'unverified';

/** The tests behind a verdict. */
export interface PatchTests {
  command: string;
  runner: string;
  failingBefore: string[];
  passedBefore?: number;
  passedAfter?: number;
  unusable?: string;
  reproduction?: string;
}

/** `spot.issueToPatch` result. */
export interface PatchResult {
  status: 'applied' | 'rejected' | 'proposed';
  diff: string;
  files: string[];
  edit: unknown;
  candidates: number;
  source: 'answer' | 'oneLineEdit' | 'testedEdit';
  verdict: Verdict;
  /** The verdict for people: "fixes the 1 failing test", "a guess: not tested". */
  verdictText: string;
  tests: PatchTests | null;
  evidence: ('failingTests' | 'testFrames' | 'coverage' | 'issueFrames' | 'reproductionTest' | 'text' | 'model')[];
  summary: string;
  reason?: string;
}

/** `spot.localize` arguments. */
export interface LocalizeArgs {
  issue: string;
  limit?: number;
}

/** `spot.localize` result. */
export interface LocalizeResult {
  files: { path: string; uri: string | null; score: number; reason: string }[];
  functions: {
    name: string;
    path: string;
    uri: string | null;
    range: { start: { line: number; character: number }; end: { line: number; character: number } };
    score: number;
  }[];
}

/** A listed code action's `data`: all its resolve needs. */
export interface ActionData {
  uri: string;
  line: number;
  issue: string;
  /** Set on "Fix failing test `name` with spot". */
  targetTest?: string;
}

/** `spot.cancel` result. */
export interface CancelResult {
  cancelled: number;
}

/** `spot.learn` result. */
export interface LearnResult {
  started: boolean;
  job?: number;
}

/** `spot.learn` with `[{"rollback": true}]`: the model version now active, null for the default. */
export interface RollbackResult {
  rolledBack: boolean;
  active: string | null;
}
