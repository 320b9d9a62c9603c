// Runs inside headless Chromium, after Microsoft's adaptivecards bundle
// (window.AdaptiveCards). window.heraldCheckCard(card, options) parses the
// card with the SDK, validates it, renders it into #card and reports:
//   { findings: [[level, message]], rendered: {elements, height, text} }
// level is "error" or "warn". Plain browser script: no modules, no imports.
(function () {
  'use strict';
  const AC = window.AdaptiveCards;
  const EV = AC.ValidationEvent;

  // SDK events that are advice, not defects.
  const SOFT = new Set([EV.Hint, EV.Deprecated, EV.TooManyActions]);
  // Keys that container classes read outside their declared schema.
  const STRUCTURE_KEYS = new Set(['type', 'items', 'columns', 'rows', 'cells', 'body', 'actions', 'inlines', 'card', 'fallback', 'requires', 'pages']);
  // Keys Teams reads on the card root besides the SDK's own.
  const ROOT_EXTRA_KEYS = new Set(['msteams', '$schema']);
  // Properties the Adaptive Card schema requires that the SDK's parser lets pass.
  const REQUIRED = {
    TextBlock: ['text'],
    Image: ['url'],
    ImageSet: ['images'],
    FactSet: ['facts'],
    Media: ['sources'],
    RichTextBlock: ['inlines'],
    'Action.OpenUrl': ['url'],
    'Action.ToggleVisibility': ['targetElements'],
    'Input.Toggle': ['title'],
  };
  // A webhook or Workflows post has no bot to receive these.
  const BOT_ACTIONS = new Set(['Action.Submit', 'Action.Execute']);

  // A Teams-like light theme. Teams' own host config is not published as a
  // file; these values follow its look (Segoe UI, Teams colours, 6 actions).
  const fg = {
    default: { default: '#242424', subtle: '#616161' },
    dark: { default: '#252424', subtle: '#484644' },
    light: { default: '#FFFFFF', subtle: '#FFFFFF' },
    accent: { default: '#5B5FC7', subtle: '#5B5FC7' },
    good: { default: '#237B4B', subtle: '#237B4B' },
    warning: { default: '#835C00', subtle: '#835C00' },
    attention: { default: '#C4314B', subtle: '#C4314B' },
  };
  const style = (backgroundColor) => ({ backgroundColor, foregroundColors: fg });
  const HOST_CONFIG = new AC.HostConfig({
    fontFamily: "'Segoe UI', 'Helvetica Neue', 'Liberation Sans', Arial, sans-serif",
    supportsInteractivity: true,
    actions: { maxActions: 6, spacing: 'default', buttonSpacing: 8, actionsOrientation: 'horizontal', actionAlignment: 'left' },
    containerStyles: {
      default: style('#FFFFFF'),
      emphasis: style('#F5F5F5'),
      accent: style('#E8EBFA'),
      good: style('#E7F2DA'),
      attention: style('#FCF4F6'),
      warning: style('#FBF6D9'),
    },
  });

  // Teams renders TextBlock text as a Markdown subset. The SDK ships no
  // Markdown processor, so a small one stands in for the picture: **bold**,
  // _italic_ and *italic*, [links](url), "- " lists, backslash escapes.
  AC.AdaptiveCard.onProcessMarkdown = function (text, result) {
    const esc = (s) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
    const held = [];
    const hold = (html) => `\u0000${held.push(html) - 1}\u0000`;
    const inline = (s) =>
      esc(s.replace(/\\([\\`*_{}[\]()#+\-.!~|<>])/g, (_, c) => hold(esc(c))))
        .replace(/&amp;(lt|gt|amp|quot);/g, '&$1;')
        .replace(/\*\*(.+?)\*\*/g, '<b>$1</b>')
        .replace(/(^|[^\w*])\*(?!\s)(.+?)\*(?!\w)/g, '$1<i>$2</i>')
        .replace(/(^|[^\w])_(?!\s)(.+?)_(?!\w)/g, '$1<i>$2</i>')
        .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '<a href="$2">$1</a>')
        .replace(/\u0000(\d+)\u0000/g, (_, i) => held[Number(i)]);
    let html = '';
    let list = false;
    for (const line of text.split('\n')) {
      const item = /^\s*[-*]\s+(.*)$/.exec(line);
      if (item && !list) html += '<ul style="margin:0;padding-left:20px">';
      if (!item && list) html += '</ul>';
      list = !!item;
      html += item ? `<li>${inline(item[1])}</li>` : `${inline(line)}<br>`;
    }
    if (list) html += '</ul>';
    result.outputHtml = html.replace(/(<br>)+$/, '');
    result.didProcess = true;
  };

  const eventName = (e) => EV[e] || String(e);

  // The version a type first appeared in, for "needs version X" messages.
  function introducedIn(registry, name) {
    const reg = registry.findByName(name);
    return reg ? reg.schemaVersion.toString() : '';
  }

  function schemaNames(obj) {
    const s = obj.getSchema();
    const names = new Set();
    for (let i = 0; i < s.getCount(); i++) names.add(s.getItemAt(i).name);
    return names;
  }

  window.heraldCheckCard = function (card, options) {
    const findings = [];
    const add = (level, msg) => findings.push([level, msg]);
    const major = options.version[0];
    const minor = options.version[1];

    const sdkCard = new AC.AdaptiveCard();
    sdkCard.hostConfig = HOST_CONFIG;
    sdkCard.maxVersion = AC.Versions.v1_5; // the highest version Teams renders
    // Parse at the card's own version, so anything newer than what the card
    // declares is reported (a host on that version would not show it).
    const ctx = new AC.SerializationContext(new AC.Version(major, minor));
    const visit = (obj, source) => {
      if (!source || typeof source !== 'object') return;
      const type = obj.getJsonTypeName();
      const known = schemaNames(obj);
      for (const k of Object.keys(source)) {
        if (!known.has(k) && !STRUCTURE_KEYS.has(k)) add('warn', `${type}: unknown property "${k}" (renderers ignore it)`);
      }
      for (const k of REQUIRED[type] || []) {
        if (source[k] === undefined || source[k] === null || source[k] === '' || (Array.isArray(source[k]) && !source[k].length)) {
          add('error', `${type}${source.id ? ` "${source.id}"` : ''}: required property "${k}" is missing or empty`);
        }
      }
      if (type === 'FactSet' && Array.isArray(source.facts)) {
        source.facts.forEach((f, i) => {
          if (!f || typeof f.title !== 'string' || typeof f.value !== 'string') add('error', `FactSet.facts[${i}] needs string "title" and "value"`);
        });
      }
      if (BOT_ACTIONS.has(type)) add('warn', `${type} posts to a bot, and a webhook message has none: the button does nothing`);
    };
    ctx.onParseElement = visit;
    ctx.onParseAction = visit;

    let parsed = true;
    try {
      sdkCard.parse(card, ctx);
    } catch (e) {
      add('error', `the adaptivecards SDK threw while parsing: ${e && e.message}`);
      parsed = false;
    }
    const rootKnown = schemaNames(sdkCard);
    for (const k of Object.keys(card)) {
      if (!rootKnown.has(k) && !STRUCTURE_KEYS.has(k) && !ROOT_EXTRA_KEYS.has(k)) add('warn', `AdaptiveCard: unknown property "${k}" (renderers ignore it)`);
    }
    for (let i = 0; i < ctx.eventCount; i++) {
      const e = ctx.getEventAt(i);
      let msg = e.message;
      const unknown = /^Unknown (element|action) type "([^"]*)"/.exec(msg || '');
      if (unknown) {
        const since = introducedIn(unknown[1] === 'element' ? AC.GlobalRegistry.elements : AC.GlobalRegistry.actions, unknown[2]);
        if (since) msg += ` (it needs version ${since}; the card declares ${major}.${minor})`;
      }
      add(SOFT.has(e.event) ? 'warn' : 'error', `SDK parse ${eventName(e.event)}: ${msg}`);
    }
    if (!parsed) return { findings, rendered: null };

    const results = sdkCard.validateProperties();
    for (const e of results.validationEvents) {
      const src = e.source && e.source.getJsonTypeName ? ` (${e.source.getJsonTypeName()})` : '';
      add(SOFT.has(e.event) ? 'warn' : 'error', `SDK validate ${eventName(e.event)}${src}: ${e.message}`);
    }

    // Render as Teams would, into the page.
    const holder = document.getElementById('card');
    holder.style.width = `${options.width}px`;
    holder.replaceChildren();
    let el;
    try {
      el = sdkCard.render();
    } catch (e) {
      add('error', `render threw: ${e && e.message}`);
      return { findings, rendered: null };
    }
    if (!el) {
      add('error', 'render returned nothing (the SDK would show the fallback text, or nothing)');
      return { findings, rendered: null };
    }
    holder.appendChild(el);
    const box = el.getBoundingClientRect();
    const text = (el.innerText || '').trim();
    if (!box.height) add('warn', 'the rendered card is 0 px tall');
    else if (!text) add('warn', 'the rendered card shows no text');
    return { findings, rendered: { elements: el.querySelectorAll('*').length, height: Math.round(box.height), text: text.length } };
  };
})();
