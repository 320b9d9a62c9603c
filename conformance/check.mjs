#!/usr/bin/env node
// herald conformance check: Slack and Teams payload files, checked with the
// platforms' own code. See README.md beside this file.
import fs from 'node:fs';
import path from 'node:path';
import {
  SUITE_DIR, REPO_DIR, EXIT_OK, EXIT_FAIL, EXIT_HARNESS, UsageError,
  Result, loadPayload, loneSurrogates, loadAllowList, allowed, report, plural,
} from './lib/common.mjs';
import { checkSlackLimits } from './lib/slack-limits.mjs';
import { typeCheckSlack, TSC } from './lib/slack-types.mjs';
import { checkTeamsBody, shapeOf } from './lib/teams.mjs';

const USAGE = `usage: node check.mjs [options] [--slack] FILE... [--teams] FILE...
  --slack, --teams, --auto  the platform of the files that follow (default
                            --auto: Teams when the body has a Teams shape)
  --png DIR                 write a PNG of every rendered Adaptive Card under DIR
  --strict                  warnings fail the file too
  --allow-mentions FILE     globs of files allowed to notify people
                            (default: allow-mentions.txt beside this script)
  --json                    print the results as JSON instead of text
  --verbose                 list every file, with notes, not only those with findings
  --keep-ts                 keep the generated TypeScript modules
exit: 0 all passed, 1 a file failed, 2 usage or harness error
`;

function parseArgs(argv) {
  const opts = { files: [], allowMentions: path.join(SUITE_DIR, 'allow-mentions.txt') };
  let platform = 'auto';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--slack':
      case '--teams':
      case '--auto':
        platform = a.slice(2);
        break;
      case '--png':
        opts.png = value();
        break;
      case '--allow-mentions':
        opts.allowMentions = value();
        break;
      case '--strict':
      case '--json':
      case '--verbose':
      case '--keep-ts':
      case '--help':
        opts[a.slice(2).replace('-ts', 'Ts')] = true;
        break;
      default:
        if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
        opts.files.push({ file: a, platform });
    }
  }
  return opts;
}

/** Where the picture of a file's card goes: its path under DIR, as a .png. */
function pngPath(dir, file, index, count) {
  const abs = path.resolve(file);
  let rel = path.relative(REPO_DIR, abs);
  if (rel.startsWith('..') || path.isAbsolute(rel)) rel = path.basename(abs);
  const base = rel.replace(/(\.golden)?\.json$/i, '');
  return path.join(dir, `${base}${count > 1 ? `-${index + 1}` : ''}.png`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  if (!opts.files.length) throw new UsageError('no files given');
  for (const need of [TSC, path.join(SUITE_DIR, 'node_modules', 'adaptivecards', 'dist', 'adaptivecards.min.js')]) {
    if (!fs.existsSync(need)) throw Object.assign(new Error(`${path.relative(SUITE_DIR, need)} is missing: run conformance/install.sh`), { plain: true });
  }
  const allowList = loadAllowList(opts.allowMentions);

  const results = [];
  const toType = [];
  const cards = [];
  for (const { file, platform } of opts.files) {
    const loaded = loadPayload(file);
    const kind = platform !== 'auto' ? platform : !loaded.error && shapeOf(loaded.json) ? 'teams' : 'slack';
    const r = new Result(file, kind);
    results.push(r);
    if (loaded.error) {
      r.error(loaded.error);
      continue;
    }
    for (const where of loneSurrogates(loaded.json)) r.error(`${where} holds a lone UTF-16 surrogate: not Unicode, it cannot be sent as UTF-8`);
    const mentionsAllowed = allowed(allowList, file);
    if (kind === 'slack') {
      checkSlackLimits(loaded.json, r, { mentionsAllowed });
      toType.push({ result: r, raw: loaded.raw });
    } else {
      const found = checkTeamsBody(loaded, r, { mentionsAllowed });
      found.forEach((c, i) => cards.push({ ...c, r, png: opts.png ? pngPath(opts.png, file, i, found.length) : '' }));
    }
  }

  const tscMs = typeCheckSlack(toType, { keep: opts.keepTs });

  let browserMs = 0;
  if (cards.length) {
    const t0 = Date.now();
    const { Browser } = await import('./lib/browser.mjs');
    const browser = new Browser();
    try {
      await browser.start().catch((e) => {
        throw Object.assign(new Error(`cannot start headless Chromium: ${e.message.split('\n')[0]}`), { plain: true });
      });
      for (const c of cards) {
        const res = await browser.checkCard(c.card, { version: c.version, full: c.full, png: c.png });
        for (const [level, msg] of res.findings) (level === 'error' ? c.r.error : c.r.warn).call(c.r, `${c.where}${msg}`);
        if (res.rendered) {
          c.r.note(`${c.where}rendered by the adaptivecards SDK: ${res.rendered.elements} HTML elements, ${res.rendered.height} px tall`);
          if (c.png) c.r.note(`${c.where}png: ${c.png}`);
        }
      }
    } finally {
      await browser.close();
    }
    browserMs = Date.now() - t0;
  }

  const strict = !!opts.strict;
  if (!opts.json) {
    const count = (p) => results.filter((r) => r.platform === p);
    const shapes = {};
    for (const r of count('teams')) shapes[r.shape || 'unknown'] = (shapes[r.shape || 'unknown'] || 0) + 1;
    const shapeList = Object.entries(shapes).map(([k, n]) => `${n} ${k}`).join(', ');
    process.stdout.write(
      `conformance: slack ${plural(count('slack').length, 'file')} (tsc ${(tscMs / 1000).toFixed(1)} s); ` +
        `teams ${plural(count('teams').length, 'file')}${shapeList ? ` (${shapeList})` : ''}, ` +
        `${plural(cards.length, 'card')} in Chromium (${(browserMs / 1000).toFixed(1)} s)${opts.png ? `, PNGs in ${opts.png}` : ''}\n`,
    );
  }
  const { failed } = report(results, { strict, json: opts.json, verbose: opts.verbose });
  return failed ? EXIT_FAIL : EXIT_OK;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    if (e instanceof UsageError) process.stderr.write(`check.mjs: ${e.message}\n${USAGE}`);
    else if (e && e.plain) process.stderr.write(`check.mjs: ${e.message}\n`);
    else process.stderr.write(`check.mjs: the suite itself failed: ${e && e.stack ? e.stack : e}\n`);
    process.exitCode = EXIT_HARNESS;
  },
);
