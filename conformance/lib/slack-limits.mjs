// Slack Block Kit rules that TypeScript types cannot express: lengths,
// counts, uniqueness, the fallback text, and mentions that would ping.
// The numbers are those of Slack's Block Kit reference; @slack/types
// repeats most of them in its JSDoc (node_modules/@slack/types/dist/block-kit).
import { codePoints, isObject, checkUrl } from './common.mjs';

export const LIMITS = {
  blocks: 50, // per message, and per attachment
  blockId: 255,
  actionId: 255,
  text: 3000, // any text object: 1..3000
  header: 150,
  section: 3000,
  fields: 10,
  field: 2000,
  context: 10,
  actions: 25,
  buttonText: 75,
  buttonValue: 2000,
  url: 3000,
  altText: 2000,
  imageTitle: 2000,
  markdownBlock: 12000,
  messageText: 40000, // top-level text: Slack truncates longer ones
};

const NAMED_COLORS = new Set(['good', 'warning', 'danger']);
const HEX_COLOR = /^#?[0-9a-fA-F]{6}$/;

/**
 * Check one incoming-webhook body; findings go to r. A mention that would
 * notify people is a warning, or only a note when mentionsAllowed.
 */
export function checkSlackLimits(body, r, { mentionsAllowed = false } = {}) {
  if (!isObject(body)) {
    r.error('the body must be a JSON object');
    return;
  }
  const st = { r, blockIds: new Map() };
  const text = typeof body.text === 'string' ? body.text : '';
  const blocks = Array.isArray(body.blocks) ? body.blocks : [];
  const attachments = Array.isArray(body.attachments) ? body.attachments : [];
  const attachmentBlocks = attachments.some((a) => isObject(a) && Array.isArray(a.blocks) && a.blocks.length);

  if (!text.trim() && !blocks.length && !attachments.length) {
    r.error('the message has no text, blocks or attachments (Slack answers no_text)');
  } else if (!text.trim() && (blocks.length || attachmentBlocks)) {
    r.warn('top-level "text" is missing or blank: Slack shows it in notifications and where blocks cannot be shown');
  }
  if (codePoints(text) > LIMITS.messageText) {
    r.warn(`text: ${codePoints(text)} characters; Slack truncates message text after ${LIMITS.messageText}`);
  }
  if (blocks.length > LIMITS.blocks) r.error(`blocks: ${blocks.length} blocks, at most ${LIMITS.blocks}`);
  blocks.forEach((b, i) => checkBlock(b, `blocks[${i}]`, st));

  attachments.forEach((a, i) => {
    const p = `attachments[${i}]`;
    if (!isObject(a)) return; // the type check reports it
    if (typeof a.color === 'string' && !NAMED_COLORS.has(a.color) && !HEX_COLOR.test(a.color)) {
      r.error(`${p}.color ${JSON.stringify(a.color)} must be good, warning, danger or a hex colour such as #2EB67D`);
    }
    if (Array.isArray(a.blocks)) {
      if (a.blocks.length > LIMITS.blocks) r.error(`${p}.blocks: ${a.blocks.length} blocks, at most ${LIMITS.blocks}`);
      a.blocks.forEach((b, j) => checkBlock(b, `${p}.blocks[${j}]`, st));
    } else if (!a.text && !a.pretext && !a.title && !a.fields && !a.fallback) {
      r.warn(`${p} has no blocks, text, title, fields or fallback: it shows as an empty bar`);
    }
    for (const k of ['title_link', 'author_link', 'image_url', 'thumb_url', 'author_icon', 'footer_icon']) {
      if (typeof a[k] === 'string') {
        maxLen(a[k], LIMITS.url, `${p}.${k}`, r);
        checkUrl(a[k], `${p}.${k}`, r);
      }
    }
  });

  for (const ping of findPings(body)) {
    const msg = `${ping.where} mentions ${ping.token}: posting it notifies people`;
    if (mentionsAllowed) r.note(`${msg} (allowed by allow-mentions.txt)`);
    else r.warn(`${msg}; escape it, or list the file in conformance/allow-mentions.txt if meant`);
  }
}

function checkBlock(b, p, st) {
  const { r } = st;
  if (!isObject(b)) return;
  if (typeof b.block_id === 'string') {
    maxLen(b.block_id, LIMITS.blockId, `${p}.block_id`, r);
    const first = st.blockIds.get(b.block_id);
    if (first) r.error(`${p}.block_id ${JSON.stringify(b.block_id)} repeats ${first}'s; block ids are unique in a message`);
    else st.blockIds.set(b.block_id, p);
  }
  const actionIds = new Map();
  const element = (e, ep) => checkElement(e, ep, r, actionIds);
  switch (b.type) {
    case 'header':
      textObject(b.text, `${p}.text`, r, { max: LIMITS.header, plain: true, required: true });
      break;
    case 'section': {
      const fields = Array.isArray(b.fields) ? b.fields : [];
      if (b.text === undefined && !fields.length) r.error(`${p}: a section needs "text" or "fields"`);
      if (b.text !== undefined) textObject(b.text, `${p}.text`, r, { max: LIMITS.section });
      if (fields.length > LIMITS.fields) r.error(`${p}.fields: ${fields.length} fields, at most ${LIMITS.fields}`);
      fields.forEach((f, i) => textObject(f, `${p}.fields[${i}]`, r, { max: LIMITS.field }));
      if (b.accessory !== undefined) element(b.accessory, `${p}.accessory`);
      break;
    }
    case 'context': {
      const els = Array.isArray(b.elements) ? b.elements : [];
      if (!els.length) r.error(`${p}.elements: a context block needs at least one element`);
      if (els.length > LIMITS.context) r.error(`${p}.elements: ${els.length} elements, at most ${LIMITS.context}`);
      els.forEach((e, i) => {
        if (isObject(e) && e.type === 'image') imageElement(e, `${p}.elements[${i}]`, r);
        else textObject(e, `${p}.elements[${i}]`, r, {});
      });
      break;
    }
    case 'actions': {
      const els = Array.isArray(b.elements) ? b.elements : [];
      if (!els.length) r.error(`${p}.elements: an actions block needs at least one element`);
      if (els.length > LIMITS.actions) r.error(`${p}.elements: ${els.length} elements, at most ${LIMITS.actions}`);
      els.forEach((e, i) => element(e, `${p}.elements[${i}]`));
      break;
    }
    case 'image':
      if (typeof b.image_url === 'string') {
        maxLen(b.image_url, LIMITS.url, `${p}.image_url`, r);
        checkUrl(b.image_url, `${p}.image_url`, r);
      } else if (b.slack_file === undefined) r.error(`${p}: an image block needs image_url or slack_file`);
      if (typeof b.alt_text === 'string') maxLen(b.alt_text, LIMITS.altText, `${p}.alt_text`, r);
      if (b.title !== undefined) textObject(b.title, `${p}.title`, r, { max: LIMITS.imageTitle, plain: true });
      break;
    case 'markdown':
      if (typeof b.text === 'string') {
        if (!b.text) r.error(`${p}.text is empty`);
        maxLen(b.text, LIMITS.markdownBlock, `${p}.text`, r);
      }
      break;
    default:
      break; // divider, rich_text, ...: nothing beyond the types
  }
}

function checkElement(e, p, r, actionIds) {
  if (!isObject(e)) return;
  if (typeof e.action_id === 'string') {
    maxLen(e.action_id, LIMITS.actionId, `${p}.action_id`, r);
    const first = actionIds.get(e.action_id);
    if (first) r.error(`${p}.action_id ${JSON.stringify(e.action_id)} repeats ${first}'s; action ids are unique in a block`);
    else actionIds.set(e.action_id, p);
  }
  if (e.type === 'button') {
    textObject(e.text, `${p}.text`, r, { max: LIMITS.buttonText, plain: true, required: true });
    if (typeof e.url === 'string') {
      maxLen(e.url, LIMITS.url, `${p}.url`, r);
      checkUrl(e.url, `${p}.url`, r);
    }
    if (typeof e.value === 'string') maxLen(e.value, LIMITS.buttonValue, `${p}.value`, r);
  } else if (e.type === 'image') {
    imageElement(e, p, r);
  }
}

function imageElement(e, p, r) {
  if (typeof e.image_url === 'string') {
    maxLen(e.image_url, LIMITS.url, `${p}.image_url`, r);
    checkUrl(e.image_url, `${p}.image_url`, r);
  } else if (e.slack_file === undefined) r.error(`${p}: an image element needs image_url or slack_file`);
  if (typeof e.alt_text !== 'string' || !e.alt_text) r.error(`${p}.alt_text is required on an image element`);
}

/** A text object {type: plain_text|mrkdwn, text}. */
function textObject(t, p, r, { max = LIMITS.text, plain = false, required = false }) {
  if (t === undefined) {
    if (required) r.error(`${p} is required`);
    return;
  }
  if (!isObject(t) || typeof t.text !== 'string') return; // the type check reports it
  if (plain && t.type !== 'plain_text') r.error(`${p} must be plain_text, not ${JSON.stringify(t.type)}`);
  if (!t.text) r.error(`${p}.text is empty; Slack wants at least 1 character`);
  maxLen(t.text, Math.min(max, LIMITS.text), `${p}.text`, r);
}

function maxLen(s, max, p, r) {
  const n = codePoints(s);
  if (n > max) r.error(`${p}: ${n} characters, at most ${max}`);
}

// ---------------------------------------------------------------- mentions

// Control sequences that notify people wherever mrkdwn is read: the three
// broadcasts, a user, a user group. (<!date^...> and <#C...> notify no one.)
const PING = /<!(?:channel|here|everyone)(?:\|[^>]*)?>|<@[UW][A-Z0-9]+(?:\|[^>]*)?>|<!subteam\^[A-Z0-9]+(?:\|[^>]*)?>/g;
// With link_names, plain @here, @channel and @everyone notify too.
const LINK_NAMES_PING = /(?:^|[\s(])@(?:channel|here|everyone)\b/g;

/** Every place of a Slack body whose text would notify someone. */
export function findPings(body) {
  const found = [];
  const linkNames = body.link_names === true || body.link_names === 1;
  const scan = (s, where) => {
    if (typeof s !== 'string') return;
    for (const m of s.matchAll(PING)) found.push({ where, token: m[0] });
    if (linkNames) for (const m of s.matchAll(LINK_NAMES_PING)) found.push({ where, token: `${m[0].trim()} (link_names)` });
  };
  scan(body.text, 'text');
  const walk = (v, where) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${where}[${i}]`));
      return;
    }
    if (!isObject(v)) return;
    if (v.type === 'mrkdwn') scan(v.text, `${where}.text`);
    // rich_text: broadcast, user and usergroup elements notify by themselves.
    if (v.type === 'broadcast') found.push({ where, token: `a rich_text broadcast (${v.range})` });
    if (v.type === 'user' && typeof v.user_id === 'string') found.push({ where, token: `a rich_text user (${v.user_id})` });
    if (v.type === 'usergroup') found.push({ where, token: `a rich_text usergroup (${v.usergroup_id})` });
    for (const [k, x] of Object.entries(v)) if (typeof x === 'object') walk(x, `${where}.${k}`);
  };
  walk(body.blocks, 'blocks');
  if (Array.isArray(body.attachments)) {
    body.attachments.forEach((a, i) => {
      if (!isObject(a)) return;
      const p = `attachments[${i}]`;
      // Legacy attachment texts are mrkdwn (mrkdwn_in) and notify like text.
      for (const k of ['text', 'pretext', 'title', 'footer', 'author_name']) scan(a[k], `${p}.${k}`);
      if (Array.isArray(a.fields)) a.fields.forEach((f, j) => isObject(f) && scan(f.value, `${p}.fields[${j}].value`));
      walk(a.blocks, `${p}.blocks`);
    });
  }
  return found;
}
