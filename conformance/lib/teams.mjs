// Microsoft Teams bodies, told apart by shape:
//   {"@type": "MessageCard", ...}               legacy O365 connector card
//   {"type": "message", "attachments": [...]}   Workflows (Power Automate) body
//   {"type": "AdaptiveCard", ...}               a bare card, for flows that want one
// This file checks what is not the SDK's business (size, envelope, version,
// msteams) and returns the cards for the browser (browser.mjs).
import { isObject, clip, checkUrl } from './common.mjs';
import { checkMessageCard } from './messagecard.mjs';

// Teams' message size limit, 28 KB, measured on the body as sent (compact
// JSON, UTF-8). adapters/teams/card.go MaxMessageBytes is the same number.
export const MAX_BYTES = 28 * 1024;
export const CARD_TYPE = 'application/vnd.microsoft.card.adaptive';
export const MAX_VERSION = [1, 5]; // the highest Adaptive Card version Teams renders

const ENVELOPE_KEYS = new Set(['type', 'attachments', 'summary', 'text']);
const ATTACHMENT_KEYS = new Set(['contentType', 'content', 'contentUrl', 'name', 'thumbnailUrl']);
const MSTEAMS_KEYS = new Set(['width', 'entities', 'allowExpand']);

export function shapeOf(body) {
  if (!isObject(body)) return '';
  if (body['@type'] !== undefined || body['@context'] !== undefined) return 'messagecard';
  if (body.type === 'message') return 'workflows';
  if (body.type === 'AdaptiveCard') return 'adaptive-card';
  return '';
}

/**
 * Check one Teams body loaded by loadPayload. Returns the cards to check in
 * the browser: [{card, where, version: [major, minor], full}].
 */
export function checkTeamsBody(loaded, r, { mentionsAllowed = false } = {}) {
  const body = loaded.json;
  r.note(`${loaded.wireBytes} bytes as sent (${loaded.bytes} as written)`);
  if (loaded.wireBytes > MAX_BYTES) r.error(`the body is ${loaded.wireBytes} bytes as sent; Teams takes at most ${MAX_BYTES} (28 KB)`);

  r.shape = shapeOf(body);
  switch (r.shape) {
    case 'messagecard':
      checkMessageCard(body, r);
      return [];
    case 'adaptive-card': {
      const card = checkCard(body, '', r, mentionsAllowed);
      return card ? [card] : [];
    }
    case 'workflows':
      return checkEnvelope(body, r, mentionsAllowed);
    default:
      r.error(
        isObject(body)
          ? `not a Teams body: expected "type": "message" (Workflows), "type": "AdaptiveCard" or "@type": "MessageCard", got type ${JSON.stringify(body.type)}`
          : 'the body must be a JSON object',
      );
      return [];
  }
}

function checkEnvelope(body, r, mentionsAllowed) {
  for (const k of Object.keys(body)) if (!ENVELOPE_KEYS.has(k)) r.warn(`unknown top-level property "${k}"`);
  if (!Array.isArray(body.attachments) || !body.attachments.length) {
    r.error('attachments must be a non-empty array holding the Adaptive Card');
    return [];
  }
  const cards = [];
  body.attachments.forEach((a, i) => {
    const p = `attachments[${i}]`;
    if (!isObject(a)) return r.error(`${p} must be an object`);
    for (const k of Object.keys(a)) if (!ATTACHMENT_KEYS.has(k)) r.warn(`${p}: unknown property "${k}"`);
    if (a.contentType !== CARD_TYPE) return r.error(`${p}.contentType must be "${CARD_TYPE}", got ${JSON.stringify(a.contentType)}`);
    if (a.contentUrl !== undefined && a.contentUrl !== null) r.warn(`${p}.contentUrl should be null for a card sent inline`);
    if (!isObject(a.content)) return r.error(`${p}.content must be the Adaptive Card object`);
    const card = checkCard(a.content, body.attachments.length > 1 ? `${p}.content: ` : '', r, mentionsAllowed);
    if (card) cards.push(card);
  });
  return cards;
}

/** The card's own fields; returns the browser job, or null when it cannot be parsed. */
function checkCard(card, where, r, mentionsAllowed) {
  if (card.type !== 'AdaptiveCard') r.error(`${where}type must be "AdaptiveCard", got ${JSON.stringify(card.type)}`);
  let version = null;
  const m = typeof card.version === 'string' ? /^(\d+)\.(\d+)$/.exec(card.version) : null;
  if (card.version === undefined) r.error(`${where}version is missing (Teams wants "1.4" or "1.5")`);
  else if (!m) r.error(`${where}version ${JSON.stringify(card.version)} must be a string "MAJOR.MINOR", such as "1.4"`);
  else {
    version = [Number(m[1]), Number(m[2])];
    const [maxMajor, maxMinor] = MAX_VERSION;
    if (version[0] > maxMajor || (version[0] === maxMajor && version[1] > maxMinor)) {
      r.error(`${where}version ${card.version} is above ${maxMajor}.${maxMinor}, the highest Teams renders`);
    } else if (version[0] < 1) r.error(`${where}version ${card.version} is below 1.0`);
  }
  const full = checkMsteams(card.msteams, where, r, mentionsAllowed);
  checkCardUrls(card, where ? where.replace(/: $/, '') : '', r);
  if (!version) return null;
  // Parse at the declared version, but at most at the highest Teams renders.
  const [maxMajor, maxMinor] = MAX_VERSION;
  const above = version[0] > maxMajor || (version[0] === maxMajor && version[1] > maxMinor);
  return { card, where, version: above ? MAX_VERSION : version, full };
}

/** Links and images: absolute, and no scheme a client refuses (data: images excepted). */
function checkCardUrls(v, p, r) {
  if (Array.isArray(v)) return v.forEach((x, i) => checkCardUrls(x, `${p}[${i}]`, r));
  if (!isObject(v)) return;
  if (v.type === 'Action.OpenUrl' && typeof v.url === 'string') checkUrl(v.url, `${p}.url`, r);
  if (v.type === 'Image' && typeof v.url === 'string' && !v.url.startsWith('data:image/')) checkUrl(v.url, `${p}.url`, r);
  for (const [k, x] of Object.entries(v)) if (typeof x === 'object') checkCardUrls(x, p ? `${p}.${k}` : k, r);
}

/** msteams: width "Full" is herald's choice (DESIGN.md); mentions notify people. */
function checkMsteams(ms, where, r, mentionsAllowed) {
  if (ms === undefined) {
    r.warn(`${where}msteams.width is not set: Teams shows the card narrow; herald sends "Full"`);
    return false;
  }
  if (!isObject(ms)) {
    r.error(`${where}msteams must be an object`);
    return false;
  }
  for (const k of Object.keys(ms)) if (!MSTEAMS_KEYS.has(k)) r.warn(`${where}msteams: unknown property "${k}"`);
  if (ms.width === undefined) r.warn(`${where}msteams.width is not set: Teams shows the card narrow; herald sends "Full"`);
  else if (ms.width !== 'Full') r.error(`${where}msteams.width ${JSON.stringify(ms.width)}: the only value Teams knows is "Full"`);
  if (ms.entities !== undefined) {
    if (!Array.isArray(ms.entities)) r.error(`${where}msteams.entities must be an array`);
    else
      ms.entities.forEach((e, i) => {
        if (!isObject(e) || e.type !== 'mention') return;
        const who = isObject(e.mentioned) ? e.mentioned.name || e.mentioned.id : '';
        const msg = `${where}msteams.entities[${i}] mentions ${JSON.stringify(clip(String(who || e.text || '?'), 60))}: posting it notifies people`;
        if (mentionsAllowed) r.note(`${msg} (allowed by allow-mentions.txt)`);
        else r.warn(`${msg}; list the file in conformance/allow-mentions.txt if meant`);
      });
  }
  return ms.width === 'Full';
}
