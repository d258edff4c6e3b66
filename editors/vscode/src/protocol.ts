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
}

/** `spot.issueToPatch` result. */
export interface PatchResult {
  status: 'applied' | 'rejected' | 'proposed';
  diff: string;
  files: string[];
  edit: unknown;
  candidates: number;
  summary: string;
  reason?: string;
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
