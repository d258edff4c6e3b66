// What spot claims about a patch, in words for the user (docs/lsp-extensions.md,
// `spot.issueToPatch`: `verdict`, `verdictText`). Only a patch that made failing tests pass is
// presented as a fix; anything else says it is a guess. No `vscode` import: test/verdict.test.mjs
// runs it under plain node.

/** The verdicts the server sends. Older servers wrote them in snake_case; both are accepted. */
export type VerdictWord = 'fixesFailingTests' | 'passesTests' | 'unverified';

export interface Verdict {
  verdict?: string | null;
  verdictText?: string | null;
}

/** `fixes_failing_tests` / `fixesFailingTests` → `fixesFailingTests`; unknown → `unverified`. */
export function verdictWord(v: string | null | undefined): VerdictWord {
  const k = String(v ?? '').replace(/_/g, '').toLowerCase();
  if (k === 'fixesfailingtests') return 'fixesFailingTests';
  if (k === 'passestests') return 'passesTests';
  return 'unverified';
}

/** Whether the patch may be presented as a fix. */
export function isFix(r: Verdict): boolean {
  return verdictWord(r.verdict) === 'fixesFailingTests';
}

/**
 * The claim in words: `fix — fixes the 1 failing test`, or the server's sentence for a guess,
 * which always says "guess" (`a guess: not tested`).
 */
export function verdictHeadline(r: Verdict): string {
  const text = (r.verdictText ?? '').trim();
  if (isFix(r)) {
    return `fix — ${text || 'fixes the failing tests'}`;
  }
  if (!text) {
    return verdictWord(r.verdict) === 'passesTests' ? 'a guess: no test shows this bug' : 'a guess: not tested';
  }
  return /\bguess\b/i.test(text) ? text : `a guess: ${text}`;
}

export interface PatchOutcome extends Verdict {
  status: 'applied' | 'rejected' | 'proposed' | string;
  summary: string;
  reason?: string | null;
}

/** The notification after `spot.issueToPatch`: `spot: fix — fixes the 1 failing test · applied: 1 file changed: a.py`. */
export function patchMessage(r: PatchOutcome): string {
  const head = `spot: ${verdictHeadline(r)}`;
  switch (r.status) {
    case 'applied':
      return `${head} · applied: ${r.summary}`;
    case 'rejected':
      return `${head} · not applied (${r.reason || 'discarded'}): ${r.summary}`;
    default:
      return `${head} · proposed: ${r.summary}`;
  }
}
