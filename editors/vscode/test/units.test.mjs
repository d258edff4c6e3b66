// What the user reads, checked without VS Code (npm test): the verdict words after a fix
// (src/verdict.ts), the status-bar text (src/status.ts) and the levels of the server's log lines
// in the output channel (src/log.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSrc } from './bundle.mjs';

const verdict = await loadSrc('verdict.ts');
const status = await loadSrc('status.ts');
const log = await loadSrc('log.ts');

test('only fixesFailingTests is presented as a fix; everything else says it is a guess', () => {
  const fix = { status: 'applied', summary: '1 file changed: inventory/store.py', verdict: 'fixesFailingTests', verdictText: 'fixes the 1 failing test' };
  assert.equal(verdict.patchMessage(fix), 'spot: fix — fixes the 1 failing test · applied: 1 file changed: inventory/store.py');
  // The Rust enum's own spelling (snake_case) is read the same.
  assert.equal(verdict.isFix({ verdict: 'fixes_failing_tests' }), true);
  const guesses = [
    { verdict: 'passesTests', verdictText: 'a guess: no test shows this bug (the tests still pass with it)' },
    { verdict: 'unverified', verdictText: 'a guess: not tested' },
    { verdict: 'unverified', verdictText: 'not tested' },
    { verdict: 'passes_tests' },
    {}, // an older server: no verdict at all
  ];
  for (const g of guesses) {
    for (const st of ['applied', 'proposed', 'rejected']) {
      const m = verdict.patchMessage({ status: st, summary: '1 file changed: a.py', reason: 'user said no', ...g });
      assert.match(m, /^spot: a guess: /, `${JSON.stringify(g)} ${st}: ${m}`);
      assert.doesNotMatch(m, /\bfix\b|validated/i, m);
    }
  }
  assert.equal(
    verdict.patchMessage({ status: 'rejected', summary: '1 file changed: a.py', reason: 'discarded', verdict: 'unverified', verdictText: 'a guess: not tested' }),
    'spot: a guess: not tested · not applied (discarded): 1 file changed: a.py',
  );
});

const base = {
  version: '0.1.0',
  index: { state: 'ready', files: 14, symbols: 95, root: '/w' },
  model: { state: 'unloaded', dir: '/m/smollm2-135m-instruct', name: 'smollm2-135m-instruct' },
  jobs: [],
  learn: { state: 'idle' },
};

test('the status bar says "no model: run setup" when the server reports a model error', () => {
  assert.equal(status.statusText(base), 'spot: ready · smollm2');
  const broken = { ...base, model: { ...base.model, error: 'no model.onnx in /m/smollm2-135m-instruct' } };
  assert.equal(status.statusText(broken), '$(warning) spot: no model: run setup');
  assert.match(status.statusTooltip(broken).value, /No model:.*no model\\\.onnx in/);
  assert.equal(status.statusText({ ...base, model: { ...base.model, state: 'unavailable' } }), '$(warning) spot: no model: run setup');
  // A running job still shows first.
  assert.match(status.statusText({ ...broken, jobs: [{ id: 1, kind: 'learn', stage: 'learning', message: 'epoch 1' }] }), /spot: learning/);
});

test('server log lines keep their level; ONNX Runtime chatter is trace', () => {
  const p = log.parseServerLine;
  assert.deepEqual(p('2026-12-07T22:01:17.284012Z  INFO spot_lsp::server: indexed 14 files'), { level: 'info', text: 'spot_lsp::server: indexed 14 files' });
  assert.deepEqual(p('2026-12-07T22:01:17.284012Z  WARN spot_lsp::config: unknown setting'), { level: 'warn', text: 'spot_lsp::config: unknown setting' });
  assert.equal(p('2026-12-07T22:01:17.284012Z ERROR spot_lsp: boom').level, 'error');
  assert.equal(p('2026-12-07T22:01:17.284012Z DEBUG spot_index: x').level, 'debug');
  assert.equal(p('2026-12-07T22:01:19.547353Z  INFO ort::logging: GraphTransformer ConstantSharing modified: 1 with status: OK').level, 'trace');
  assert.equal(p('2026-12-07T22:01:19.5Z  WARN ort::logging: something real').level, 'warn');
  assert.equal(p('\x1b[2m2026-12-07T22:01:17.284012Z\x1b[0m \x1b[32m INFO\x1b[0m spot: colored').level, 'info');
  // Continuation lines take the level before them; a panic is an error.
  assert.equal(p('   0: std::backtrace', 'error').level, 'error');
  assert.equal(p('some plain line').level, 'info');
  assert.equal(p("thread 'main' panicked at src/x.rs:1:1:").level, 'error');
});
