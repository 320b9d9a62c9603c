// Headless Chromium (Debian's package, driven by playwright-core, which
// downloads no browser) holding one page with Microsoft's adaptivecards
// bundle. Every Adaptive Card is parsed, validated and rendered there by
// adaptive-page.js; with a PNG path the rendered card is screenshotted.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SUITE_DIR } from './common.mjs';

export const CHROMIUM = process.env.HERALD_CHROMIUM || '/usr/bin/chromium';

const SDK = path.join(SUITE_DIR, 'node_modules', 'adaptivecards', 'dist');
const PAGE_SCRIPT = path.join(SUITE_DIR, 'lib', 'adaptive-page.js');

// Card widths in the picture: Teams gives a "Full" card the message column,
// any other card a fixed narrow width.
export const WIDTH_FULL = 640;
export const WIDTH_DEFAULT = 450;

const PAGE = `<!doctype html><html><head><meta charset="utf-8">
<style>
  body { margin: 0; padding: 12px; background: #f0f0f0; }
  #card { background: #fff; border: 1px solid #e0e0e0; border-radius: 6px; overflow: hidden; }
  .ac-pushButton { border: 1px solid #d1d1d1; border-radius: 4px; background: #fff; color: #242424; font: 600 14px 'Segoe UI', 'Liberation Sans', Arial, sans-serif; padding: 5px 12px; min-height: 32px; }
</style></head><body><div id="shot" style="display:inline-block"><div id="card"></div></div></body></html>`;

// Every image a card names is answered with this grey box: nothing is fetched.
const PLACEHOLDER = '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="64"><rect width="96" height="64" fill="#d0d0d0"/></svg>';

export class Browser {
  async start() {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run conformance/install.sh (or set HERALD_CHROMIUM)`);
    const { chromium } = await import('playwright-core');
    this.profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-conformance-chromium-'));
    this.context = await chromium.launchPersistentContext(this.profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: WIDTH_FULL + 40, height: 400 },
      deviceScaleFactor: 1,
      timeout: 60_000,
    });
    // No network: the page is set from a string, the SDK is injected, images
    // get the placeholder and every other request is refused.
    await this.context.route('**/*', (route) =>
      route.request().resourceType() === 'image'
        ? route.fulfill({ status: 200, contentType: 'image/svg+xml', body: PLACEHOLDER })
        : route.abort('blockedbyclient'),
    );
    await this.openPage();
  }

  async openPage() {
    this.page = await this.context.newPage();
    this.problems = [];
    this.page.on('pageerror', (e) => this.problems.push(['error', `page error: ${e.message}`]));
    this.page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') this.problems.push(['warn', `console ${m.type()}: ${m.text()}`]);
    });
    await this.page.setContent(PAGE);
    await this.page.addStyleTag({ path: path.join(SDK, 'adaptivecards.css') });
    await this.page.addScriptTag({ path: path.join(SDK, 'adaptivecards.min.js') });
    await this.page.addScriptTag({ path: PAGE_SCRIPT });
    const ready = await this.page.evaluate(() => typeof window.heraldCheckCard === 'function');
    if (!ready) throw new Error('the adaptivecards bundle or adaptive-page.js did not load in Chromium');
  }

  /**
   * Check one card (see adaptive-page.js). opts: {version: [major, minor],
   * full: bool, png: path or ''}. Returns {findings, rendered}.
   */
  async checkCard(card, opts) {
    this.problems.length = 0;
    let res;
    try {
      res = await this.page.evaluate(({ card, options }) => window.heraldCheckCard(card, options), {
        card,
        options: { version: opts.version, width: opts.full ? WIDTH_FULL : WIDTH_DEFAULT },
      });
    } catch (e) {
      // Reload the page so one bad card cannot spoil the next.
      await this.page.close().catch(() => {});
      await this.openPage();
      return { findings: [['error', `checking in Chromium failed: ${e.message.split('\n')[0]}`]], rendered: null };
    }
    if (opts.png && res.rendered) {
      await this.page
        .waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 5000 })
        .catch(() => res.findings.push(['warn', 'images did not finish loading within 5 s']));
      fs.mkdirSync(path.dirname(opts.png), { recursive: true });
      await this.page.locator('#shot').screenshot({ path: opts.png });
    }
    res.findings.push(...this.problems);
    return res;
  }

  async close() {
    if (this.context) await this.context.close().catch(() => {});
    if (this.profile) fs.rmSync(this.profile, { recursive: true, force: true });
    this.context = null;
  }
}
