// Shared pieces of the conformance suite: loading a payload file, the
// per-file result, character counting and the report.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** conformance/ (this suite's folder) and the repository root above it. */
export const SUITE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.dirname(SUITE_DIR);

export const EXIT_OK = 0; // every file passed
export const EXIT_FAIL = 1; // a file failed (or, with --strict, warned)
export const EXIT_HARNESS = 2; // bad usage, missing install, or the suite itself broke

export class UsageError extends Error {}

export const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Length as Slack and Teams count it: Unicode code points, not UTF-16 units. */
export function codePoints(s) {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** One file's findings. Errors fail the file; warnings fail it only with --strict. */
export class Result {
  constructor(file, platform) {
    this.file = file;
    this.platform = platform; // "slack" or "teams"
    this.shape = ''; // what the body was taken for, e.g. "workflows"
    this.errors = [];
    this.warnings = [];
    this.notes = [];
  }
  error(msg) {
    this.errors.push(msg);
  }
  warn(msg) {
    this.warnings.push(msg);
  }
  note(msg) {
    this.notes.push(msg);
  }
  failed(strict) {
    return this.errors.length > 0 || (strict && this.warnings.length > 0);
  }
}

/**
 * Read a payload file. Returns {raw, bytes, wireBytes, json} or {error}.
 * The file must be strict UTF-8 and JSON. wireBytes is the size once the
 * whitespace between tokens is removed, which is what the adapter sends:
 * golden files are the wire bytes pretty-printed by json.Indent, which
 * never touches the inside of strings.
 */
export function loadPayload(file) {
  let buf;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    return { error: `cannot read the file: ${e.code || e.message}` };
  }
  let raw;
  try {
    raw = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(buf);
  } catch {
    return { error: 'the file is not valid UTF-8 (Slack and Teams take UTF-8 JSON)' };
  }
  if (raw.charCodeAt(0) === 0xfeff) return { error: 'the file starts with a byte order mark; JSON bodies must not' };
  let json;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    return { error: `invalid JSON: ${e.message}` };
  }
  return { raw, json, bytes: buf.length, wireBytes: compactSize(raw) };
}

/** Bytes of JSON text without the whitespace outside strings. */
function compactSize(raw) {
  let n = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) {
        n += 2; // a backslash and the ASCII character it escapes
        i++;
        continue;
      }
      if (c === 0x22) inString = false;
      // UTF-8 length of this UTF-16 unit (a surrogate pair counts 2 + 2 = 4).
      n += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdfff ? 2 : 3;
      continue;
    }
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    if (c === 0x22) inString = true;
    n++;
  }
  return n;
}

/**
 * Strings holding a lone UTF-16 surrogate (written as a \udXXX escape): valid
 * JSON, but not Unicode, so they cannot be sent as UTF-8. Returns JSON paths.
 */
export function loneSurrogates(value, where = '', out = []) {
  if (typeof value === 'string') {
    if (!value.isWellFormed()) out.push(where || '(top level)');
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => loneSurrogates(v, `${where}[${i}]`, out));
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (!k.isWellFormed()) out.push(`${where}.<key>`);
      loneSurrogates(v, where ? `${where}.${k}` : k, out);
    }
  }
  return out;
}

/**
 * A URL as Slack and Teams want it: absolute, and not a scheme that runs or
 * embeds content. Returns '' when fine, else the reason ("warn:" prefix for
 * a scheme that is legal but unusual in a CI message).
 */
export function urlProblem(s) {
  if (typeof s !== 'string' || s === '') return 'is empty';
  let u;
  try {
    u = new URL(s);
  } catch {
    return 'is not an absolute URL';
  }
  const scheme = u.protocol.replace(/:$/, '').toLowerCase();
  if (['javascript', 'vbscript', 'data', 'file'].includes(scheme)) return `uses the ${scheme}: scheme, which chat clients refuse`;
  if (!['https', 'http', 'mailto'].includes(scheme)) return `warn:uses the ${scheme}: scheme; only https, http and mailto are expected`;
  return '';
}

/** Report a urlProblem through r. */
export function checkUrl(s, where, r) {
  const p = urlProblem(s);
  if (!p) return;
  if (p.startsWith('warn:')) r.warn(`${where} ${p.slice(5)}`);
  else r.error(`${where} ${p}${typeof s === 'string' && s ? `: ${JSON.stringify(clip(s, 80))}` : ''}`);
}

export function clip(s, n) {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/**
 * Globs of files allowed to @-mention (ping) people, one a line, relative to
 * the repository root (or absolute); '#' starts a comment. '*' matches within a path
 * segment, '**' across segments.
 */
export function loadAllowList(file) {
  if (!file || !fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean)
    .map((glob) => ({ glob, re: globToRegExp(glob) }));
}

function globToRegExp(glob) {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Whether file matches a glob of the list (relative to the repository root, or absolute). */
export function allowed(list, file) {
  const abs = path.resolve(file).split(path.sep).join('/');
  const rel = path.relative(REPO_DIR, abs).split(path.sep).join('/');
  return list.some(({ glob, re }) => re.test(glob.startsWith('/') ? abs : rel));
}

/**
 * Print the results. Text: one line per file with findings (every file with
 * verbose), its errors and warnings indented below, then the closing lines.
 * Returns {passed, failed, warnings}.
 */
export function report(results, { strict = false, json = false, verbose = false, out = process.stdout } = {}) {
  let failed = 0;
  let warnings = 0;
  let warned = 0;
  for (const r of results) {
    if (r.failed(strict)) failed++;
    warnings += r.warnings.length;
    if (r.warnings.length) warned++;
  }
  const passed = results.length - failed;
  if (json) {
    const list = results.map((r) => ({
      file: r.file,
      platform: r.platform,
      shape: r.shape,
      ok: !r.failed(strict),
      errors: r.errors,
      warnings: r.warnings,
      notes: r.notes,
    }));
    out.write(`${JSON.stringify(list, null, 2)}\n`);
    return { passed, failed, warnings };
  }
  for (const r of results) {
    const bad = r.failed(strict);
    if (!bad && !r.warnings.length && !verbose) continue;
    const counts = [];
    if (r.errors.length) counts.push(plural(r.errors.length, 'error'));
    if (r.warnings.length) counts.push(plural(r.warnings.length, 'warning'));
    const lines = [`${bad ? 'FAIL' : 'ok  '} ${r.file} [${r.platform}${r.shape ? ` ${r.shape}` : ''}]${counts.length ? ` (${counts.join(', ')})` : ''}`];
    for (const m of r.errors) lines.push(detail('error', m));
    for (const m of r.warnings) lines.push(detail('warning', m));
    if (verbose) for (const m of r.notes) lines.push(detail('note', m));
    out.write(`${lines.join('\n')}\n`);
  }
  out.write(`conformance: ${plural(warnings, 'warning')} in ${plural(warned, 'file')}${strict ? ' (--strict: warnings fail)' : ''}\n`);
  out.write(`conformance: ${passed} passed, ${failed} failed\n`);
  return { passed, failed, warnings };
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function detail(level, msg) {
  return msg
    .split('\n')
    .map((l, i) => (i === 0 ? `    ${level}: ${l}` : `        ${l}`))
    .join('\n');
}
