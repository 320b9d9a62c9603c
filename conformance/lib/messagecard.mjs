// Legacy Office 365 connector cards ("MessageCard"). Microsoft ships no
// library for this format, so these are structural checks written from its
// "Legacy actionable message card reference", plus the connector's limit of
// 10 sections that Teams enforces.
import { isObject, checkUrl } from './common.mjs';

export const MAX_SECTIONS = 10;

const CONTEXTS = ['https://schema.org/extensions', 'http://schema.org/extensions'];
const HEX = /^#?(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})$/;
const CARD_KEYS = new Set([
  '@type', '@context', 'summary', 'title', 'text', 'themeColor', 'sections', 'potentialAction',
  'correlationId', 'expectedActors', 'originator', 'hideOriginalBody', 'autoInvokeAction',
]);
const SECTION_KEYS = new Set([
  'title', 'startGroup', 'activityImage', 'activityTitle', 'activitySubtitle', 'activityText',
  'heroImage', 'text', 'facts', 'images', 'potentialAction', 'markdown',
]);
const CARD_STRINGS = ['summary', 'title', 'text', 'themeColor', 'correlationId', 'originator'];
const SECTION_STRINGS = ['title', 'activityImage', 'activityTitle', 'activitySubtitle', 'activityText', 'text'];
const OS = new Set(['default', 'iOS', 'android', 'windows']);
const INPUTS = new Set(['TextInput', 'DateInput', 'MultichoiceInput']);

export function checkMessageCard(card, r) {
  if (card['@type'] !== 'MessageCard') r.error(`@type must be "MessageCard", got ${JSON.stringify(card['@type'])}`);
  if (!CONTEXTS.includes(card['@context'])) r.error(`@context must be "https://schema.org/extensions", got ${JSON.stringify(card['@context'])}`);
  for (const k of Object.keys(card)) if (!CARD_KEYS.has(k)) r.warn(`unknown card property "${k}" (the connector ignores it)`);
  strings(card, CARD_STRINGS, '', r);
  const blank = (v) => typeof v !== 'string' || !v.trim();
  if (blank(card.summary) && blank(card.text)) r.error('summary or text is required (the summary is what notifications show)');
  if (typeof card.themeColor === 'string' && !HEX.test(card.themeColor)) r.error(`themeColor ${JSON.stringify(card.themeColor)} must be hex, such as "0076D7"`);

  if (card.sections !== undefined) {
    if (!Array.isArray(card.sections)) r.error('sections must be an array');
    else {
      if (card.sections.length > MAX_SECTIONS) r.error(`sections: ${card.sections.length} sections, Teams takes at most ${MAX_SECTIONS}`);
      card.sections.forEach((s, i) => checkSection(s, `sections[${i}]`, r));
    }
  }
  if (card.potentialAction !== undefined) checkActions(card.potentialAction, 'potentialAction', r, false);
  const sections = Array.isArray(card.sections) ? card.sections : [];
  if (blank(card.title) && blank(card.text) && !sections.length) r.warn('no title, text or sections: only the summary shows');
}

function strings(obj, keys, p, r) {
  for (const k of keys) if (obj[k] !== undefined && typeof obj[k] !== 'string') r.error(`${p}${k} must be a string, got ${typeOf(obj[k])}`);
}

const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function checkSection(s, p, r) {
  if (!isObject(s)) {
    r.error(`${p} must be an object`);
    return;
  }
  for (const k of Object.keys(s)) if (!SECTION_KEYS.has(k)) r.warn(`${p}: unknown section property "${k}" (the connector ignores it)`);
  strings(s, SECTION_STRINGS, `${p}.`, r);
  for (const k of ['markdown', 'startGroup']) if (s[k] !== undefined && typeof s[k] !== 'boolean') r.error(`${p}.${k} must be true or false`);
  if (typeof s.activityImage === 'string') checkUrl(s.activityImage, `${p}.activityImage`, r);
  if (s.heroImage !== undefined) image(s.heroImage, `${p}.heroImage`, r);
  if (s.images !== undefined) {
    if (!Array.isArray(s.images)) r.error(`${p}.images must be an array`);
    else s.images.forEach((im, i) => image(im, `${p}.images[${i}]`, r));
  }
  if (s.facts !== undefined) {
    if (!Array.isArray(s.facts)) r.error(`${p}.facts must be an array`);
    else {
      s.facts.forEach((f, i) => {
        const fp = `${p}.facts[${i}]`;
        if (!isObject(f)) return r.error(`${fp} must be {name, value}`);
        if (typeof f.name !== 'string') r.error(`${fp}.name must be a string, got ${typeOf(f.name)}`);
        if (typeof f.value !== 'string') r.error(`${fp}.value must be a string, got ${typeOf(f.value)}`);
        for (const k of Object.keys(f)) if (k !== 'name' && k !== 'value') r.warn(`${fp}: unknown property "${k}"`);
      });
    }
  }
  if (s.potentialAction !== undefined) checkActions(s.potentialAction, `${p}.potentialAction`, r, false);
}

function image(im, p, r) {
  if (!isObject(im)) return r.error(`${p} must be {image, title}`);
  checkUrl(im.image, `${p}.image`, r);
  if (im.title !== undefined && typeof im.title !== 'string') r.error(`${p}.title must be a string`);
}

function checkActions(list, p, r, inActionCard) {
  if (!Array.isArray(list)) return r.error(`${p} must be an array`);
  list.forEach((a, i) => {
    const ap = `${p}[${i}]`;
    if (!isObject(a)) return r.error(`${ap} must be an object`);
    if (typeof a.name !== 'string' || !a.name.trim()) r.error(`${ap}.name (the button's label) is required`);
    switch (a['@type']) {
      case 'OpenUri':
        if (!Array.isArray(a.targets) || !a.targets.length) {
          r.error(`${ap}.targets must be a non-empty array of {os, uri}`);
          break;
        }
        a.targets.forEach((t, j) => {
          const tp = `${ap}.targets[${j}]`;
          if (!isObject(t)) return r.error(`${tp} must be {os, uri}`);
          if (!OS.has(t.os)) r.error(`${tp}.os ${JSON.stringify(t.os)} must be default, iOS, android or windows`);
          checkUrl(t.uri, `${tp}.uri`, r);
        });
        if (!a.targets.some((t) => isObject(t) && t.os === 'default')) r.warn(`${ap}.targets has no "default" entry: other platforms get no link`);
        break;
      case 'HttpPOST':
        checkUrl(a.target, `${ap}.target`, r);
        if (a.body !== undefined && typeof a.body !== 'string') r.error(`${ap}.body must be a string`);
        r.warn(`${ap}: HttpPOST needs a registered actionable-message provider; a webhook post cannot use it`);
        break;
      case 'ActionCard':
        if (inActionCard) r.error(`${ap}: an ActionCard cannot hold another ActionCard`);
        if (a.inputs !== undefined) {
          if (!Array.isArray(a.inputs)) r.error(`${ap}.inputs must be an array`);
          else
            a.inputs.forEach((inp, j) => {
              if (!isObject(inp) || !INPUTS.has(inp['@type'])) r.error(`${ap}.inputs[${j}].@type must be TextInput, DateInput or MultichoiceInput`);
              else if (typeof inp.id !== 'string' || !inp.id) r.error(`${ap}.inputs[${j}].id is required`);
            });
        }
        if (a.actions !== undefined) checkActions(a.actions, `${ap}.actions`, r, true);
        break;
      case 'InvokeAddInCommand':
        r.error(`${ap}: InvokeAddInCommand works only in Outlook, not in Teams`);
        break;
      default:
        r.error(`${ap}.@type ${JSON.stringify(a['@type'])} must be OpenUri, HttpPOST or ActionCard`);
    }
  });
}
