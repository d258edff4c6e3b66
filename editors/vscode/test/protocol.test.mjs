// The extension against docs/lsp-extensions.md, the protocol contract: the commands it knows are
// the documented ones, and every documented setting is a `spot.*` setting with the same default
// and values. No VS Code needed: `node --test test/` (npm test).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ext = path.join(here, '..');
const doc = fs.readFileSync(path.join(ext, '../../docs/lsp-extensions.md'), 'utf8');
// src/protocol.ts re-exports the types generated from the server (src/protocol.generated.ts).
const protocol = ['src/protocol.ts', 'src/protocol.generated.ts']
  .filter((f) => fs.existsSync(path.join(ext, f)))
  .map((f) => fs.readFileSync(path.join(ext, f), 'utf8'))
  .join('\n');
const pkg = JSON.parse(fs.readFileSync(path.join(ext, 'package.json'), 'utf8'));
const props = pkg.contributes.configuration.properties;

test('the commands in src/protocol*.ts are the documented ones', () => {
  const documented = [...doc.matchAll(/^### `(spot\.\w+)`$/gm)].map((m) => m[1]).sort();
  const block = protocol.match(/export const Commands = \{([\s\S]*?)\}/)[1];
  const known = [...block.matchAll(/'(spot\.\w+)'/g)].map((m) => m[1]).sort();
  assert.ok(documented.length > 0, 'no `### \\`spot.x\\`` headings in docs/lsp-extensions.md');
  assert.deepEqual(known, documented);
  assert.match(protocol, /StatusNotification = ['"]spot\/status['"]/);
  assert.match(doc, /`spot\/status`/);
});

/** Rows of the Settings table: key → { type, default }. */
function documentedSettings() {
  const section = doc.split('## Settings')[1].split('\n## ')[0];
  const rows = {};
  for (const line of section.split('\n')) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    const key = cells[1]?.match(/^`([\w.]+)`$/)?.[1];
    if (key) rows[key] = { type: cells[2], default: cells[3] };
  }
  return rows;
}

test('every documented setting is a spot.* setting with the same default and values', () => {
  const rows = documentedSettings();
  assert.ok(Object.keys(rows).length >= 8, `settings table not found: ${JSON.stringify(rows)}`);
  for (const [key, row] of Object.entries(rows)) {
    const prop = props[`spot.${key}`];
    assert.ok(prop, `spot.${key} is documented but not contributed`);
    const values = [...row.type.matchAll(/`(\w+)`/g)].map((m) => m[1]);
    if (values.length > 1) {
      assert.deepEqual(prop.enum, values, `spot.${key} values`);
    }
    const literal = row.default.match(/^`(.*)`$/)?.[1] ?? row.default.match(/^\d+$/)?.[0];
    if (literal !== undefined) {
      assert.equal(String(prop.default), literal, `spot.${key} default`);
    } else {
      // "discovered", "the default model", ...: the setting is empty and the server decides.
      assert.equal(prop.default, '', `spot.${key} default should be empty (server default)`);
    }
    assert.ok(prop.description || prop.markdownDescription, `spot.${key} has no description`);
  }
  // The only client-side setting is the binary's path.
  const extra = Object.keys(props).filter((k) => !(k.slice('spot.'.length) in rows));
  assert.deepEqual(extra, ['spot.path']);
});

test('the palette commands are contributed and titled "Spot: …"', () => {
  const titles = pkg.contributes.commands.map((c) => `${c.category}: ${c.title}`);
  for (const t of ['Spot: Fix Issue…', 'Spot: Learn This Repository', 'Spot: Cancel', 'Spot: Show Status', 'Spot: Restart Server']) {
    assert.ok(titles.includes(t), `${t} missing from ${JSON.stringify(titles)}`);
  }
  const src = fs.readFileSync(path.join(ext, 'src/extension.ts'), 'utf8');
  for (const c of pkg.contributes.commands) {
    assert.ok(src.includes(`registerCommand('${c.command}'`), `${c.command} is contributed but not registered`);
  }
});
