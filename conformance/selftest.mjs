#!/usr/bin/env node
// Self-test of the conformance suite: payloads known to be bad must fail
// with the expected message (so every check can fail), payloads known to be
// good must pass without a warning (so the suite is not failing everything),
// and the exit codes, --strict, the mention allow list and --png work.
//   node selftest.mjs [--keep]   (--keep leaves the payloads and PNGs in place)
// Prints one line per check and closes with "N passed, N failed".
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { SUITE_DIR } from './lib/common.mjs';

const keep = process.argv.includes('--keep');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-conformance-selftest-'));
let passed = 0;
let failed = 0;
const check = (ok, what) => {
  if (ok) passed++;
  else failed++;
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
};

// ------------------------------------------------------------ good payloads

const text = (t, type = 'mrkdwn') => ({ type, text: t });
const plain = (t) => text(t, 'plain_text');
const button = (label, extra = {}) => ({ type: 'button', text: plain(label), action_id: 'view', url: 'https://ci.example.com/b/1', ...extra });

const slack = (over = {}) => ({
  text: 'Build #1 failed: web (main)',
  blocks: [{ type: 'header', text: plain('Build #1 failed') }],
  attachments: [
    {
      color: '#E01E5A',
      blocks: [
        { type: 'section', text: text('*Tests failed: 3*') },
        { type: 'section', fields: [text('*Branch*\nmain'), text('*Agent*\nlinux-1')] },
        { type: 'context', elements: [text('TeamCity · BUILD_FINISHED')] },
        { type: 'actions', elements: [button('View build')] },
      ],
    },
  ],
  ...over,
});
// One attachment block list with `blocks` put in place of the default ones.
const slackWith = (blocks, over = {}) => slack({ attachments: [{ color: 'danger', blocks }], ...over });

const card = (over = {}) => ({
  type: 'AdaptiveCard',
  $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
  version: '1.4',
  msteams: { width: 'Full' },
  body: [
    { type: 'TextBlock', text: 'Build #1 failed', size: 'Large', weight: 'Bolder', wrap: true },
    { type: 'FactSet', facts: [{ title: 'Branch', value: 'main' }] },
    { type: 'Image', url: 'https://ci.example.com/icon.png', altText: 'app icon', size: 'Small' }, // answered with a placeholder
  ],
  actions: [{ type: 'Action.OpenUrl', title: 'View build', url: 'https://ci.example.com/b/1' }],
  ...over,
});
const workflows = (c = card()) => ({
  type: 'message',
  attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: c }],
});
const messageCard = (over = {}) => ({
  '@type': 'MessageCard',
  '@context': 'https://schema.org/extensions',
  themeColor: 'E01E5A',
  summary: 'Build #1 failed',
  sections: [{ activityTitle: 'Build #1 failed', facts: [{ name: 'Branch', value: 'main' }] }],
  potentialAction: [{ '@type': 'OpenUri', name: 'View build', targets: [{ os: 'default', uri: 'https://ci.example.com/b/1' }] }],
  ...over,
});

// ------------------------------------------------------------------- cases
// [name, platform, payload (object, or a string/Buffer written as is), expect]
// expect: 'pass' (no error, no warning), or {error: RegExp} / {warn: RegExp}
// (the file must have a finding of that level that matches).
const many = (n, f) => Array.from({ length: n }, (_, i) => f(i));
const cases = [
  ['ok-slack', 'slack', slack(), 'pass'],
  ['ok-slack-text-only', 'slack', { text: 'Build #1 succeeded' }, 'pass'],
  ['ok-workflows', 'teams', workflows(), 'pass'],
  ['ok-adaptive-card', 'teams', card({ version: '1.5' }), 'pass'],
  ['ok-messagecard', 'teams', messageCard(), 'pass'],

  // Slack: the types (tsc)
  ['slack-invalid-block-type', 'slack', slack({ blocks: [{ type: 'headline', text: plain('x') }] }), { error: /TS2322 Type '"headline"' is not assignable/ }],
  ['slack-header-mrkdwn', 'slack', slack({ blocks: [{ type: 'header', text: text('x') }] }), { error: /TS2322 Type '"mrkdwn"' is not assignable to type '"plain_text"'/ }],
  ['slack-misspelled-property', 'slack', slack({ attachments: [{ colour: '#E01E5A', text: 'x' }] }), { error: /TS2353 .*'"?colour"?' does not exist/ }],
  ['slack-wrong-value-type', 'slack', slack({ text: 42 }), { error: /TS2322 Type 'number' is not assignable to type 'string'/ }],
  ['slack-duplicate-key', 'slack', '{\n  "text": "a",\n  "text": "b"\n}\n', { error: /TS1117/ }],
  // Slack: the Block Kit limits
  ['slack-header-151', 'slack', slack({ blocks: [{ type: 'header', text: plain('h'.repeat(151)) }] }), { error: /^blocks\[0\]\.text\.text: 151 characters, at most 150$/ }],
  ['slack-51-blocks', 'slack', slack({ blocks: many(51, () => ({ type: 'divider' })) }), { error: /^blocks: 51 blocks, at most 50$/ }],
  ['slack-51-attachment-blocks', 'slack', slackWith(many(51, () => ({ type: 'divider' }))), { error: /^attachments\[0\]\.blocks: 51 blocks, at most 50$/ }],
  ['slack-section-3001', 'slack', slackWith([{ type: 'section', text: text('s'.repeat(3001)) }]), { error: /section|blocks\[0\]\.text\.text: 3001 characters, at most 3000/ }],
  ['slack-11-fields', 'slack', slackWith([{ type: 'section', fields: many(11, (i) => text(`f${i}`)) }]), { error: /fields: 11 fields, at most 10/ }],
  ['slack-field-2001', 'slack', slackWith([{ type: 'section', fields: [text('f'.repeat(2001))] }]), { error: /fields\[0\]\.text: 2001 characters, at most 2000/ }],
  ['slack-context-11', 'slack', slackWith([{ type: 'context', elements: many(11, (i) => text(`c${i}`)) }]), { error: /elements: 11 elements, at most 10/ }],
  ['slack-button-text-76', 'slack', slackWith([{ type: 'actions', elements: [button('b'.repeat(76))] }]), { error: /elements\[0\]\.text\.text: 76 characters, at most 75/ }],
  ['slack-block-id-256', 'slack', slackWith([{ type: 'divider', block_id: 'i'.repeat(256) }]), { error: /block_id: 256 characters, at most 255/ }],
  ['slack-action-id-256', 'slack', slackWith([{ type: 'actions', elements: [button('b', { action_id: 'a'.repeat(256) })] }]), { error: /action_id: 256 characters, at most 255/ }],
  ['slack-url-3001', 'slack', slackWith([{ type: 'actions', elements: [button('b', { url: `https://ci.example.com/${'u'.repeat(2978)}` })] }]), { error: /url: 3001 characters, at most 3000/ }],
  ['slack-javascript-url', 'slack', slackWith([{ type: 'actions', elements: [button('b', { url: 'javascript:alert(1)' })] }]), { error: /javascript: scheme/ }],
  ['slack-empty-text-object', 'slack', slackWith([{ type: 'section', text: text('') }]), { error: /text is empty/ }],
  ['slack-bad-color', 'slack', slack({ attachments: [{ color: 'red', text: 'x' }] }), { error: /color "red" must be good, warning, danger or a hex/ }],
  ['slack-nothing', 'slack', {}, { error: /no text, blocks or attachments/ }],
  ['slack-no-fallback-text', 'slack', slack({ text: undefined }), { warn: /top-level "text" is missing/ }],
  ['slack-ping-channel', 'slack', slackWith([{ type: 'section', text: text('deploy <!channel> now') }]), { warn: /mentions <!channel>/ }],
  ['slack-ping-user', 'slack', slack({ text: 'hi <@U024BE7LH>' }), { warn: /^text mentions <@U024BE7LH>/ }],
  ['slack-ping-link-names', 'slack', slack({ text: 'hi @here', link_names: true }), { warn: /@here \(link_names\)/ }],
  ['allowed-slack-ping', 'slack', slack({ text: 'hi <!here>' }), 'pass'], // listed in the test's allow list
  ['slack-escaped-ping-is-fine', 'slack', slack({ text: 'hi &lt;!channel&gt; and <!date^1705311327^{date}|Jan 15>' }), 'pass'],
  // Files that are not good JSON
  ['invalid-json', 'slack', '{"text": "x"', { error: /^invalid JSON/ }],
  ['invalid-utf8', 'slack', Buffer.from([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { error: /not valid UTF-8/ }],
  ['lone-surrogate', 'slack', '{"text": "a\\ud800b"}', { error: /lone UTF-16 surrogate/ }],

  // Teams: Adaptive Cards through the SDK in Chromium
  ['ac-unknown-element', 'teams', workflows(card({ body: [{ type: 'FancyBlock', text: 'x' }] })), { error: /SDK parse UnknownElementType: Unknown element type "FancyBlock"/ }],
  ['ac-element-newer-than-version', 'teams', workflows(card({ version: '1.2', body: [{ type: 'Table', columns: [{ width: 1 }], rows: [] }] })), { error: /"Table".*needs version 1\.5; the card declares 1\.2/ }],
  ['ac-version-1.6', 'teams', workflows(card({ version: '1.6' })), { error: /version 1\.6 is above 1\.5/ }],
  ['ac-version-not-string', 'teams', workflows(card({ version: 1.4 })), { error: /version 1\.4 must be a string "MAJOR\.MINOR"/ }],
  ['ac-version-missing', 'teams', card({ version: undefined }), { error: /version is missing/ }],
  ['ac-textblock-without-text', 'teams', workflows(card({ body: [{ type: 'TextBlock', wrap: true }] })), { error: /TextBlock: required property "text"/ }],
  ['ac-openurl-without-url', 'teams', workflows(card({ actions: [{ type: 'Action.OpenUrl', title: 'x' }] })), { error: /Action\.OpenUrl: required property "url"/ }],
  ['ac-bad-enum', 'teams', workflows(card({ body: [{ type: 'TextBlock', text: 'x', size: 'Huge' }] })), { error: /SDK parse InvalidPropertyValue/ }],
  ['ac-duplicate-id', 'teams', workflows(card({ body: [{ type: 'TextBlock', id: 'a', text: 'x' }, { type: 'TextBlock', id: 'a', text: 'y' }] })), { error: /DuplicateId/ }],
  ['ac-unknown-property', 'teams', workflows(card({ body: [{ type: 'TextBlock', text: 'x', wieght: 'Bolder' }] })), { warn: /TextBlock: unknown property "wieght"/ }],
  ['ac-submit-action', 'teams', workflows(card({ actions: [{ type: 'Action.Submit', title: 'Ack' }] })), { warn: /Action\.Submit posts to a bot/ }],
  ['ac-msteams-width-wide', 'teams', workflows(card({ msteams: { width: 'Wide' } })), { error: /msteams\.width "Wide"/ }],
  ['ac-msteams-missing', 'teams', workflows(card({ msteams: undefined })), { warn: /msteams\.width is not set/ }],
  ['ac-mention', 'teams', workflows(card({ msteams: { width: 'Full', entities: [{ type: 'mention', text: '<at>Dana</at>', mentioned: { id: 'x', name: 'Dana' } }] } })), { warn: /mentions "Dana"/ }],
  ['teams-body-30kb', 'teams', workflows(card({ body: [{ type: 'TextBlock', text: 'x'.repeat(30 * 1024), wrap: true }] })), { error: /bytes as sent; Teams takes at most 28672/ }],
  ['workflows-wrong-content-type', 'teams', { type: 'message', attachments: [{ contentType: 'application/json', content: card() }] }, { error: /contentType must be "application\/vnd\.microsoft\.card\.adaptive"/ }],
  ['workflows-no-attachments', 'teams', { type: 'message', attachments: [] }, { error: /attachments must be a non-empty array/ }],
  ['not-a-teams-body', 'teams', slack(), { error: /not a Teams body/ }],
  // Teams: MessageCard structure
  ['messagecard-11-sections', 'teams', messageCard({ sections: many(11, (i) => ({ text: `s${i}` })) }), { error: /sections: 11 sections, Teams takes at most 10/ }],
  ['messagecard-no-summary', 'teams', messageCard({ summary: undefined }), { error: /summary or text is required/ }],
  ['messagecard-openuri-no-targets', 'teams', messageCard({ potentialAction: [{ '@type': 'OpenUri', name: 'x' }] }), { error: /targets must be a non-empty array/ }],
  ['messagecard-bad-action-type', 'teams', messageCard({ potentialAction: [{ '@type': 'Open', name: 'x' }] }), { error: /@type "Open" must be OpenUri, HttpPOST or ActionCard/ }],
  ['messagecard-fact-number', 'teams', messageCard({ sections: [{ facts: [{ name: 'n', value: 3 }] }] }), { error: /facts\[0\]\.value must be a string, got number/ }],
  ['messagecard-30kb', 'teams', messageCard({ text: 'y'.repeat(30 * 1024) }), { error: /Teams takes at most 28672/ }],
];

const fileOf = (name) => path.join(dir, `${name}.json`);
for (const [name, , payload] of cases) {
  const data = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : `${JSON.stringify(payload, null, 2)}\n`;
  fs.writeFileSync(fileOf(name), data);
}
const allowFile = path.join(dir, 'allow-mentions.txt');
fs.writeFileSync(allowFile, `# the self-test's allow list\n${fileOf('allowed-slack-ping')}\n`);

function run(args) {
  const t0 = Date.now();
  const p = spawnSync(process.execPath, [path.join(SUITE_DIR, 'check.mjs'), '--allow-mentions', allowFile, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: p.status, out: p.stdout, err: p.stderr, ms: Date.now() - t0 };
}
const argsFor = (list) => {
  const out = [];
  for (const [name, platform] of list) out.push(`--${platform}`, fileOf(name));
  return out;
};

// 1. Every case in one run, with pictures.
const pngDir = path.join(dir, 'png');
const all = run(['--json', '--png', pngDir, ...argsFor(cases)]);
let results = [];
try {
  results = JSON.parse(all.out);
} catch {
  check(false, `check.mjs --json printed JSON (exit ${all.code}): ${all.err.trim().split('\n').slice(0, 3).join(' | ')}`);
}
process.stdout.write(`# ${cases.length} payloads checked in ${(all.ms / 1000).toFixed(1)} s\n`);
const byFile = new Map(results.map((r) => [r.file, r]));
for (const [name, , , expect] of cases) {
  const r = byFile.get(fileOf(name));
  if (!r) {
    if (results.length) check(false, `${name}: no result`);
    continue;
  }
  const summary = () => [...r.errors.map((m) => `error: ${m}`), ...r.warnings.map((m) => `warning: ${m}`)].join(' | ') || 'nothing';
  if (expect === 'pass') {
    check(r.errors.length === 0 && r.warnings.length === 0, `${name} passes without a warning${r.errors.length || r.warnings.length ? ` -- got ${summary()}` : ''}`);
  } else if (expect.error) {
    const hit = r.errors.some((m) => expect.error.test(m));
    check(hit && !r.ok, `${name} fails with ${expect.error}${hit ? '' : ` -- got ${summary()}`}`);
  } else {
    const hit = r.warnings.some((m) => expect.warn.test(m));
    check(hit && r.errors.length === 0, `${name} warns ${expect.warn} (and has no error)${hit && !r.errors.length ? '' : ` -- got ${summary()}`}`);
  }
}
check(all.code === 1, `a run with failing files exits 1 (got ${all.code})`);

// 2. Pictures: one PNG per rendered card of a passing Teams case.
for (const [name, platform, , expect] of cases) {
  if (platform !== 'teams' || expect !== 'pass' || name === 'ok-messagecard') continue;
  const png = path.join(pngDir, `${name}.png`);
  const buf = fs.existsSync(png) ? fs.readFileSync(png) : Buffer.alloc(0);
  const sig = buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  check(sig && buf.length > 2000, `--png wrote ${path.basename(png)} (${buf.length} bytes)`);
}

// 3. Exit codes: warnings pass unless --strict; usage errors exit 2.
const calm = [cases[0], cases[1], cases[4], cases.find((c) => c[0] === 'slack-no-fallback-text')];
const lax = run(argsFor(calm));
check(lax.code === 0, `good files plus a warning exit 0 without --strict (got ${lax.code})`);
check(/^conformance: 4 passed, 0 failed$/m.test(lax.out), 'the text report closes with "conformance: 4 passed, 0 failed"');
const strict = run(['--strict', ...argsFor(calm)]);
check(strict.code === 1, `the same files exit 1 with --strict (got ${strict.code})`);
check(/^conformance: 3 passed, 1 failed$/m.test(strict.out), 'with --strict the warning file counts as failed');
check(run([]).code === 2, 'no files is a usage error: exit 2');
check(run(['--frobnicate', fileOf('ok-slack')]).code === 2, 'an unknown option is a usage error: exit 2');

if (keep) process.stdout.write(`payloads and PNGs kept in ${dir}\n`);
else fs.rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exitCode = failed ? 1 : 0;
