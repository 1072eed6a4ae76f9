// results-web: the live results page. Plain ES2020, no dependencies.
// State comes only from the /v1/stream events (resync replaces it, change patches it); the DOM is
// redrawn once per animation frame from whatever changed since the last frame.
'use strict';

(() => {
  const COLOURS = {
    CON: '#0087DC', LAB: '#E4003B', LD: '#FAA61A', GRN: '#02A95B', IND: '#8D8D8D', AIND: '#7A5C9E',
    BI: '#5F9EA0', RA: '#8B4513', R4U: '#6B8E23', MI: '#B8860B', TUSC: '#C71585', NOC: '#404040',
  };
  const UNKNOWN_COLOUR = '#A8A29E';
  const PLURAL = { CON: 'Conservatives', GRN: 'Greens', IND: 'Independents and others' };
  const TICKER_MAX = 20;
  const STALE_MS = 30000;      // no message of any kind for this long: stale
  const UNREACHABLE_MS = 30000; // stream failing for this long: unreachable
  const HUB_DOWN_MS = 60000;   // results-web reconnecting to the hub for this long: unreachable

  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const fmt = (n) => Number(n || 0).toLocaleString('en-GB');
  const signed = (n) => (n > 0 ? '+' + fmt(n) : n < 0 ? '\u2212' + fmt(-n) : '0');
  const hms = (t) => new Date(t).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  const hm = (t) => new Date(t).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', hour12: false });

  // ---- state ----
  const S = {
    election: null,                // {id,name,date}
    parties: new Map(),            // code -> {code,name,group,index}
    regions: new Map(),            // id -> name
    sequence: -1,
    rehearsal: false,
    scoreboard: null,
    contests: new Map(),           // slug -> Contest
    order: [],                     // slugs in election order
    byGss: new Map(),              // gss -> slug of the council contest
    ticker: [],                    // newest first: {key, change, contest, at}
    conn: 'connecting',            // connecting | open | error | closed
    errorSince: 0,
    lastMessage: 0,
    feed: { state: 'live', since: null },
  };
  let tickerKey = 0;

  const partyName = (code) => (code === 'NOC' ? 'No overall control' : S.parties.get(code)?.name || code);
  const colour = (code) => COLOURS[code] || UNKNOWN_COLOUR;
  const partyIndex = (code) => S.parties.get(code)?.index ?? 999;
  const swatch = (code) => `<span class="swatch${code === 'NOC' ? ' swatch--noc' : ''}" style="--c:${colour(code)}" aria-hidden="true"></span>`;
  const partyLabel = (code, long) => code
    ? `<span class="party">${swatch(code)}<abbr title="${esc(partyName(code))}">${esc(long ? partyName(code) : code)}</abbr></span>`
    : '<span class="muted">unknown</span>';

  // ---- wording ----
  function outcomeText(c) {
    const after = partyName(c.control), before = c.controlBefore ? partyName(c.controlBefore) : 'unknown';
    switch (c.outcome) {
      case 'hold': return `${after} hold`;
      case 'gain': return `${after} gain from ${before}`;
      case 'noChange': return 'No overall control (no change)';
      case 'lostToNoOverallControl': return `No overall control (${before} lose)`;
      default: return c.kind === 'mayoralty' ? `${after} win` : c.control === 'NOC' ? 'No overall control' : `${after} win`;
    }
  }
  function statusText(c) {
    if (c.status === 'declared') return outcomeText(c);
    if (c.status === 'withdrawn') return 'result withdrawn' + (c.withdrawnReason ? ` (${c.withdrawnReason})` : '');
    return 'awaiting declaration' + (c.controlBefore ? `, ${partyName(c.controlBefore)} before` : '');
  }
  function seatChangesText(c) {
    if (c.kind === 'mayoralty' || !c.seatChanges) return '';
    const e = Object.entries(c.seatChanges).filter(([, n]) => n !== 0);
    if (!e.length) return 'no change in seats';
    e.sort((a, b) => (a[1] > 0 ? 0 : 1) - (b[1] > 0 ? 0 : 1) || Math.abs(b[1]) - Math.abs(a[1]) || partyIndex(a[0]) - partyIndex(b[0]));
    return e.map(([p, n]) => `${p} ${signed(n)}`).join(', ');
  }
  function seatsSummary(c) {
    if (c.status !== 'declared' || !c.seats) return '';
    if (c.kind === 'mayoralty') return `Mayor: ${esc(partyName(c.control))}` + (c.turnoutPercent != null ? `<span class="muted">, turnout ${c.turnoutPercent}%</span>` : '');
    const ch = c.seatChanges || null;
    return Object.entries(c.seats).sort((a, b) => b[1] - a[1] || partyIndex(a[0]) - partyIndex(b[0]))
      .map(([p, n]) => `<span class="seat">${swatch(p)}${esc(p)}\u00a0${n}${ch ? `<span class="chg">\u00a0(${signed(ch[p] || 0)})</span>` : ''}</span>`).join(' ');
  }
  const headlineOf = (c) => c.headline || `${c.name}: ${outcomeText(c)}`;
  const plural = (code) => PLURAL[code] || partyName(code);
  const countOf = (n, word) => `${fmt(Math.abs(n))} ${word}${Math.abs(n) === 1 ? '' : 's'}`;
  function moveText(row, done) {
    const verb = (n) => (n > 0 ? (done ? 'gained' : 'gaining') : (done ? 'lost' : 'losing'));
    const parts = [[row.councillorsChange, 'councillor'], [row.councilsChange, 'council']].filter(([n]) => n);
    if (!parts.length) return '';
    const [a, b] = parts;
    let t = `${plural(row.code)} ${verb(a[0])} ${countOf(a[0], a[1])}`;
    if (b) t += Math.sign(a[0]) === Math.sign(b[0]) ? ` and ${countOf(b[0], b[1])}` : `, ${verb(b[0])} ${countOf(b[0], b[1])}`;
    return t;
  }

  // ---- dirty tracking and frame scheduling ----
  const dirty = { all: true, header: true, board: true, ticker: true, tickerNew: [], map: new Set(), rows: new Set(), legend: true };
  // At most one redraw per animation frame and per frameGap ms, however fast events arrive; a slow
  // machine (long redraws) redraws less often rather than falling behind.
  let frameQueued = false, frameId = 0, lastFrame = 0, frameGap = 100;
  function schedule() {
    if (frameQueued) return;
    frameQueued = true;
    const id = ++frameId;
    const run = () => {
      if (!frameQueued || id !== frameId) return;
      frameQueued = false; lastFrame = performance.now(); render();
      frameGap = Math.min(500, Math.max(100, 5 * (performance.now() - lastFrame)));
    };
    setTimeout(() => {
      requestAnimationFrame(run);
      setTimeout(run, 250); // rAF does not run in hidden tabs; this keeps the page current anyway
    }, Math.max(0, lastFrame + frameGap - performance.now()));
  }

  // ---- applying events ----
  function touch() { S.lastMessage = Date.now(); if (S.conn !== 'open') { S.conn = 'open'; S.errorSince = 0; } updateStatus(); }
  function setRehearsal(d) { if (typeof d.rehearsal === 'boolean' && d.rehearsal !== S.rehearsal) { S.rehearsal = d.rehearsal; dirty.header = true; } }
  function indexContests() {
    S.byGss.clear();
    for (const slug of S.order) { const c = S.contests.get(slug); if (c.kind === 'council' && c.gss) S.byGss.set(c.gss, slug); }
  }
  // When the contest's latest event happened, as the desk gave it (ms), or 0.
  const eventTime = (c) => Date.parse(c.status === 'withdrawn' ? c.withdrawnAt : c.declaredAt) || 0;
  function onResync(d) {
    touch(); setRehearsal(d);
    S.sequence = d.sequence;
    S.scoreboard = d.scoreboard || null;
    S.contests = new Map(); S.order = [];
    for (const c of d.contests || []) { S.contests.set(c.slug, c); S.order.push(c.slug); }
    indexContests();
    // The latest changes as they happened (corrections marked), when results-web has them; after a fresh copy from
    // the hub it has none: then the ticker is rebuilt from the declarations held, newest first.
    const recent = Array.isArray(d.recent) ? d.recent.filter((e) => e && e.contest) : [];
    S.ticker = recent.length
      ? recent.slice(-TICKER_MAX).reverse().map((e) => ({ key: ++tickerKey, change: e.change, contest: e.contest, at: eventTime(e.contest) }))
      : S.order.map((s) => S.contests.get(s)).filter((c) => c.status !== 'awaiting' && eventTime(c))
        .sort((a, b) => eventTime(b) - eventTime(a)).slice(0, TICKER_MAX)
        .map((c) => ({ key: ++tickerKey, change: c.status === 'withdrawn' ? 'withdrawn' : 'declared', contest: c, at: eventTime(c) }));
    dirty.all = true; schedule();
  }
  function onChange(d) {
    touch(); if (!d.contest || d.sequence <= S.sequence) return; // dedupe: already held
    setRehearsal(d);
    S.sequence = d.sequence;
    if (d.scoreboard) S.scoreboard = d.scoreboard;
    const c = d.contest, old = S.contests.get(c.slug);
    if (!old) S.order.push(c.slug);
    S.contests.set(c.slug, c);
    if (c.kind === 'council' && c.gss) { S.byGss.set(c.gss, c.slug); dirty.map.add(c.gss); }
    if (old && old.gss && old.gss !== c.gss) dirty.map.add(old.gss);
    const entry = { key: ++tickerKey, change: d.change, contest: c, at: eventTime(c) || Date.now() };
    S.ticker.unshift(entry); S.ticker.length = Math.min(S.ticker.length, TICKER_MAX);
    dirty.tickerNew.push(entry);
    dirty.rows.add(c.slug); dirty.header = dirty.board = dirty.legend = true;
    schedule();
  }
  function onFeed(d) {
    touch();
    S.feed = { state: d.state || 'live', since: d.since ? Date.parse(d.since) : null };
    updateStatus();
  }
  const parse = (fn) => (e) => { let d; try { d = JSON.parse(e.data); } catch (err) { console.warn('bad event data', err); return; } fn(d); };

  // ---- connection ----
  let es = null, retryMs = 1000;
  function openStream() {
    if (es) es.close();
    es = new EventSource('/v1/stream');
    es.addEventListener('resync', parse(onResync));
    es.addEventListener('change', parse(onChange));
    es.addEventListener('feed', parse(onFeed));
    es.onmessage = touch;
    es.onopen = () => { retryMs = 1000; };
    es.onerror = () => {
      if (S.conn !== 'error' && S.conn !== 'closed') { S.conn = 'error'; S.errorSince = Date.now(); }
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error or a wrong content type): retry ourselves, backing off.
        S.conn = 'closed';
        setTimeout(openStream, retryMs); retryMs = Math.min(retryMs * 2, 30000);
      }
      updateStatus();
    };
  }
  async function loadElection(delay = 1000) {
    try {
      const r = await fetch('/v1/election', { headers: { Accept: 'application/json' } });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const d = await r.json();
      S.election = d.election || null;
      S.parties = new Map((d.parties || []).map((p, i) => [p.code, { ...p, index: i }]));
      S.regions = new Map((d.regions || []).map((g) => [g.id, g.name]));
      setRehearsal(d);
      if (d.seatsBeforeNote) { $('basis-text').textContent = d.seatsBeforeNote; $('basis').hidden = false; }
      const sel = $('filter-region');
      for (const [id, name] of S.regions) sel.add(new Option(name, id));
      dirty.all = true; schedule();
    } catch (err) {
      console.warn('GET /v1/election failed, retrying', err);
      setTimeout(() => loadElection(Math.min(delay * 2, 30000)), delay);
    }
  }

  // ---- status banner ----
  function computeStatus() {
    const now = Date.now();
    if (S.conn === 'closed' || (S.conn === 'error' && now - S.errorSince > UNREACHABLE_MS))
      return ['unreachable', 'Hub unreachable', 'This page cannot reach the results server. Retrying; figures shown may be out of date.'];
    if (S.conn === 'error') return ['reconnecting', 'Reconnecting…', 'Lost the connection to the results server; retrying.'];
    if (S.conn === 'connecting') return ['connecting', 'Connecting…', ''];
    if (now - S.lastMessage > STALE_MS)
      return ['stale', `Stale: no update from the hub since ${hms(S.lastMessage)}`, 'Nothing has arrived for over 30 seconds; figures may be out of date.'];
    const since = S.feed.since || S.lastMessage;
    if (S.feed.state === 'silent')
      return ['stale', `Stale: no update from the hub since ${hms(since)}`, 'The results hub has gone quiet; figures may be out of date.'];
    if (S.feed.state === 'reconnecting') {
      if (S.feed.since && now - S.feed.since > HUB_DOWN_MS)
        return ['unreachable', 'Hub unreachable', `The results server has not reached the hub since ${hms(since)}. Figures may be out of date.`];
      return ['reconnecting', 'Reconnecting…', 'The results server is reconnecting to the hub.'];
    }
    return ['live', 'Live', ''];
  }
  let lastStatus = '';
  function updateStatus() {
    const [kind, label, detail] = computeStatus();
    const key = kind + label + detail;
    if (key === lastStatus) return;
    lastStatus = key;
    $('feed-status').textContent = label;
    $('feed-pill').className = 'pill pill--' + kind;
    document.body.dataset.feed = kind;
    const banner = $('feed-banner');
    banner.hidden = kind === 'live' || kind === 'connecting';
    banner.className = 'feed-banner feed-banner--' + kind;
    $('feed-banner-title').textContent = label;
    $('feed-banner-detail').textContent = detail;
  }
  setInterval(updateStatus, 1000);

  // ---- rendering ----
  function render() {
    const all = dirty.all;
    if (all || dirty.header) renderHeader();
    if (all || dirty.board) { renderScoreboard(); renderHeadline(); renderChart(); }
    if (all || dirty.ticker || dirty.tickerNew.length) renderTicker(all || dirty.ticker);
    if (all) { renderTable(); renderMap(null); }
    else {
      if (dirty.rows.size) updateRows(dirty.rows);
      if (dirty.map.size) renderMap(dirty.map);
    }
    if (all || dirty.legend) renderLegend();
    dirty.all = dirty.header = dirty.board = dirty.ticker = dirty.legend = false;
    dirty.tickerNew = []; dirty.rows.clear(); dirty.map.clear();
    document.body.dataset.sequence = String(S.sequence);
  }

  function renderHeader() {
    const sb = S.scoreboard, total = sb ? sb.contestsTotal : S.order.length, done = sb ? sb.contestsDeclared : 0;
    const name = S.election?.name || 'Election results';
    $('election-name').textContent = name;
    $('declared-count').textContent = `${fmt(done)} of ${fmt(total)}`;
    $('scoreboard-progress').textContent = `${fmt(done)} of ${fmt(total)}`;
    $('progress-bar').style.width = total ? (100 * done / total).toFixed(2) + '%' : '0';
    $('sequence').textContent = S.sequence >= 0 ? String(S.sequence) : '—';
    $('rehearsal-banner').hidden = !S.rehearsal;
    document.body.classList.toggle('is-rehearsal', S.rehearsal);
    document.title = `${S.rehearsal ? 'TEST — rehearsal data — ' : ''}${name} — ResultsHub`;
  }

  function sortedRows() {
    return (S.scoreboard?.parties || []).slice()
      .sort((a, b) => b.councils - a.councils || b.councillors - a.councillors || partyIndex(a.code) - partyIndex(b.code));
  }
  function renderScoreboard() {
    const sb = S.scoreboard, body = $('scoreboard-body');
    if (!sb || !sb.contestsDeclared) { body.innerHTML = '<tr><td colspan="6">No results declared yet.</td></tr>'; $('scoreboard-note').hidden = true; return; }
    const chg = (n) => `<td class="num chg ${n > 0 ? 'up' : n < 0 ? 'down' : ''}">${signed(n)}</td>`;
    let html = sortedRows().map((r) => `<tr data-party="${esc(r.code)}"><th scope="row">${partyLabel(r.code, true)}</th>`
      + `<td class="num">${fmt(r.councils)}</td>${chg(r.councilsChange)}<td class="num">${fmt(r.councillors)}</td>`
      + `${chg(r.councillorsChange)}<td class="num">${fmt(r.mayors)}</td></tr>`).join('');
    const noc = sb.noOverallControl || { councils: 0, change: 0 };
    html += `<tr class="noc-row" data-party="NOC"><th scope="row">${partyLabel('NOC', true)}</th><td class="num">${fmt(noc.councils)}</td>`
      + `${chg(noc.change)}<td class="num muted">—</td><td class="num muted">—</td><td class="num muted">—</td></tr>`;
    body.innerHTML = html;
    const note = $('scoreboard-note');
    note.hidden = !(sb.councilsNotCompared > 0);
    note.textContent = `Councillor changes are measured over the ${fmt(sb.councilsCompared)} declared councils with a previous composition to compare with; `
      + `${countOf(sb.councilsNotCompared, 'council')} without one ${sb.councilsNotCompared === 1 ? 'is' : 'are'} left out of them.`;
  }

  function renderHeadline() {
    const sb = S.scoreboard, h = $('headline'), sub = $('subhead');
    if (!sb || !sb.contestsDeclared) { h.textContent = 'Waiting for the first declaration'; sub.textContent = ''; return; }
    const done = sb.contestsDeclared >= sb.contestsTotal;
    const rows = (sb.parties || []).filter((r) => r.councillorsChange || r.councilsChange);
    const score = (r) => r.councillorsChange + 10 * r.councilsChange;
    const loser = rows.filter((r) => score(r) < 0).sort((a, b) => score(a) - score(b))[0];
    const gainer = rows.filter((r) => score(r) > 0).sort((a, b) => score(b) - score(a))[0];
    const lines = [loser, gainer].filter(Boolean).map((r) => moveText(r, done)).filter(Boolean);
    h.textContent = lines[0] || `${fmt(sb.contestsDeclared)} of ${fmt(sb.contestsTotal)} results declared`;
    sub.textContent = lines[1] ? lines[1] + '.' : '';
    sub.textContent += ` ${fmt(sb.contestsDeclared)} of ${fmt(sb.contestsTotal)} results declared${done ? '' : ' so far'}.`;
  }

  function renderChart() {
    const sb = S.scoreboard, chart = $('chart');
    const items = sortedRows().filter((r) => r.councils > 0).map((r) => [r.code, r.councils]);
    if (sb && sb.noOverallControl && sb.noOverallControl.councils) items.push(['NOC', sb.noOverallControl.councils]);
    if (!items.length) { chart.innerHTML = '<li class="note">No councils declared yet.</li>'; return; }
    const max = Math.max(...items.map((i) => i[1]));
    chart.innerHTML = items.map(([code, n]) => `<li><span class="bar-label">${swatch(code)}${esc(partyName(code))}</span>`
      + `<span class="bar-track"><span class="bar${code === 'NOC' ? ' bar--noc' : ''}" style="--c:${colour(code)};width:${(100 * n / max).toFixed(1)}%"></span></span>`
      + `<span class="bar-value">${fmt(n)}</span></li>`).join('');
  }

  function tickerItem(e) {
    const c = e.contest, li = document.createElement('li');
    li.className = 'tick tick--' + e.change + (c.outcome === 'gain' && e.change !== 'withdrawn' ? ' tick--gain' : '');
    li.dataset.slug = c.slug;
    let label = '', text;
    if (e.change === 'withdrawn') { label = 'Withdrawn'; text = `${c.name} result withdrawn${c.withdrawnReason ? ' — ' + c.withdrawnReason : ''}`; }
    else { if (e.change === 'corrected') label = 'Correction'; text = headlineOf(c); }
    const who = e.change === 'withdrawn' ? '' : swatch(c.control);
    const extra = [c.kind === 'mayoralty' ? 'Mayoral election' : seatChangesText(c), c.turnoutPercent != null && e.change !== 'withdrawn' ? `turnout ${c.turnoutPercent}%` : '']
      .filter(Boolean).join(' · ');
    li.innerHTML = `<p class="tick-head">${label ? `<span class="tag tag--${e.change}">${label}:</span> ` : ''}`
      + `${who}<span class="tick-text">${esc(text)}</span>${c.outcome === 'gain' && e.change !== 'withdrawn' ? ' <span class="tag tag--gain">Gain</span>' : ''}</p>`
      + `<p class="tick-meta"><time datetime="${new Date(e.at).toISOString()}">${hm(e.at)}</time>${extra ? ' · ' + esc(extra) : ''}</p>`;
    return li;
  }
  function renderTicker(full) {
    const ol = $('ticker');
    if (full || dirty.tickerNew.length >= TICKER_MAX) {
      ol.replaceChildren(...S.ticker.map(tickerItem));
    } else {
      for (const e of dirty.tickerNew) ol.prepend(tickerItem(e));
      while (ol.children.length > TICKER_MAX) ol.lastElementChild.remove();
    }
    $('ticker-empty').hidden = S.ticker.length > 0;
  }

  // ---- council table ----
  const rowEls = new Map();
  function rowHtml(c) {
    let result;
    if (c.status === 'declared') {
      const gain = c.outcome === 'gain';
      result = `<span class="result${gain ? ' result--gain' : ''}">${gain ? '<span class="tag tag--gain">Gain</span> ' : ''}${esc(outcomeText(c))}</span>`
        + (c.revision > 1 ? ' <span class="muted">(revised)</span>' : '');
    } else if (c.status === 'withdrawn') result = `<span class="tag tag--withdrawn">Withdrawn</span> <span class="muted">${esc(c.withdrawnReason || '')}</span>`;
    else result = '<span class="muted">Awaiting</span>';
    return `<th scope="row">${esc(c.name)}</th><td class="col-region">${esc(S.regions.get(c.region) || c.region)}</td>`
      + `<td class="col-before">${c.controlBefore ? partyLabel(c.controlBefore) : '<span class="muted">—</span>'}</td>`
      + `<td class="col-after">${c.status === 'declared' ? partyLabel(c.control) : '<span class="muted">—</span>'}</td>`
      + `<td class="col-result">${result}</td><td class="seats">${seatsSummary(c)}</td>`;
  }
  function matches(c) {
    const region = $('filter-region').value, status = $('filter-status').value;
    if (region && c.region !== region) return false;
    if (status === 'declared') return c.status === 'declared';
    if (status === 'awaiting') return c.status !== 'declared';
    return true;
  }
  function fillRow(tr, c) {
    tr.innerHTML = rowHtml(c);
    tr.dataset.status = c.status;
    tr.className = c.outcome === 'gain' && c.status === 'declared' ? 'is-gain' : '';
    tr.hidden = !matches(c);
  }
  function renderTable() {
    const body = $('council-body'), frag = document.createDocumentFragment();
    rowEls.clear();
    for (const slug of S.order) {
      const c = S.contests.get(slug), tr = document.createElement('tr');
      tr.dataset.slug = slug; tr.dataset.kind = c.kind;
      fillRow(tr, c); rowEls.set(slug, tr); frag.append(tr);
    }
    body.replaceChildren(frag);
    updateFilterCount();
  }
  function updateRows(slugs) {
    for (const slug of slugs) {
      const c = S.contests.get(slug); let tr = rowEls.get(slug);
      if (!tr) { tr = document.createElement('tr'); tr.dataset.slug = slug; tr.dataset.kind = c.kind; rowEls.set(slug, tr); $('council-body').append(tr); }
      fillRow(tr, c);
    }
    updateFilterCount();
  }
  function applyFilters() {
    for (const [slug, tr] of rowEls) tr.hidden = !matches(S.contests.get(slug));
    updateFilterCount();
  }
  function updateFilterCount() {
    let shown = 0;
    for (const tr of rowEls.values()) if (!tr.hidden) shown++;
    $('filter-count').textContent = `Showing ${fmt(shown)} of ${fmt(rowEls.size)}`;
  }
  $('filter-region').addEventListener('change', applyFilters);
  $('filter-status').addEventListener('change', applyFilters);

  // ---- hex map ----
  const SVGNS = 'http://www.w3.org/2000/svg';
  const hexEls = new Map(); // gss -> {path, title, name, cx, cy}
  let hexes = null, gainLayer = null;
  const R = 10, W = Math.sqrt(3) * R;
  function svgEl(tag, attrs) { const e = document.createElementNS(SVGNS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); return e; }
  async function loadHexes() {
    try {
      const r = await fetch('/static/uk-local-authority-districts-2023.hexjson');
      if (!r.ok) throw new Error('HTTP ' + r.status);
      hexes = (await r.json()).hexes; buildMap(); dirty.all = true; schedule();
    } catch (err) {
      console.warn('hex map unavailable', err);
      $('hex-info').textContent = 'The map could not be loaded; the table of all councils below has every result.';
    }
  }
  function buildMap() {
    const svg = $('hexmap'), list = Object.entries(hexes);
    const qs = list.map(([, h]) => h.q), rs = list.map(([, h]) => h.r);
    const minQ = Math.min(...qs), maxQ = Math.max(...qs), minR = Math.min(...rs), maxR = Math.max(...rs);
    const width = (maxQ - minQ + 1.5) * W + 4, height = (maxR - minR) * 1.5 * R + 2 * R + 4;
    svg.setAttribute('viewBox', `0 0 ${width.toFixed(1)} ${height.toFixed(1)}`);
    const defs = svgEl('defs', {}), pat = svgEl('pattern', { id: 'hatch-noc', width: 4, height: 4, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' });
    pat.append(svgEl('rect', { width: 4, height: 4, fill: COLOURS.NOC }), svgEl('rect', { width: 1.6, height: 4, fill: '#9a9a9a' }));
    defs.append(pat);
    const base = svgEl('g', { class: 'hexes' }); gainLayer = svgEl('g', { class: 'gains', 'aria-hidden': 'true' });
    const corners = [];
    for (let i = 0; i < 6; i++) { const a = Math.PI / 180 * (60 * i - 30); corners.push([R * Math.cos(a), R * Math.sin(a)]); }
    for (const [gss, h] of list) {
      // odd-r: odd rows sit half a hex to the right; r counts upwards, so flip it for SVG's y.
      const cx = 2 + W / 2 + (h.q - minQ + ((h.r & 1) ? 0.5 : 0)) * W, cy = 2 + R + (maxR - h.r) * 1.5 * R;
      const d = 'M' + corners.map(([x, y]) => `${(cx + x * 0.96).toFixed(2)},${(cy + y * 0.96).toFixed(2)}`).join('L') + 'Z';
      const path = svgEl('path', { d, class: 'hex', 'data-gss': gss, 'data-control': '', 'data-status': 'none' });
      const title = svgEl('title', {}); path.append(title); base.append(path);
      hexEls.set(gss, { path, title, name: h.n, d, cx, cy });
    }
    svg.replaceChildren(defs, base, gainLayer);
    const info = (ev) => { const t = ev.target.closest && ev.target.closest('.hex'); if (t) $('hex-info').textContent = hexEls.get(t.dataset.gss).title.textContent; };
    svg.addEventListener('mouseover', info); svg.addEventListener('click', info);
  }
  function paintHex(gss) {
    const h = hexEls.get(gss); if (!h) return;
    const slug = S.byGss.get(gss), c = slug && S.contests.get(slug);
    let status = 'none', control = '', fill = null, text;
    if (!c) text = `${h.name}: no council election in 2023`;
    else {
      status = c.status; text = `${c.name}: ${statusText(c)}`;
      if (c.status === 'declared' && c.control) { control = c.control; fill = control === 'NOC' ? 'url(#hatch-noc)' : colour(control); }
    }
    const gain = status === 'declared' && c.outcome === 'gain';
    h.path.setAttribute('data-status', status);
    h.path.setAttribute('data-control', control);
    h.path.setAttribute('aria-label', text);
    h.path.classList.toggle('is-gain', gain);
    if (fill) h.path.style.fill = fill; else h.path.style.removeProperty('fill');
    h.title.textContent = text;
    if (gain && !h.mark) {
      h.mark = svgEl('g', {});
      h.mark.append(svgEl('path', { d: h.d, class: 'gain-outline' }), svgEl('circle', { cx: h.cx.toFixed(2), cy: h.cy.toFixed(2), r: 2.4, class: 'gain-dot' }));
      gainLayer.append(h.mark);
    } else if (!gain && h.mark) { h.mark.remove(); h.mark = null; }
  }
  function renderMap(only) {
    if (!hexes) return;
    for (const gss of only || hexEls.keys()) paintHex(gss);
  }
  function renderLegend() {
    const counts = new Map(); let gains = 0, awaiting = 0, withdrawn = 0;
    for (const slug of S.byGss.values()) {
      const c = S.contests.get(slug);
      if (c.status === 'declared' && c.control) { counts.set(c.control, (counts.get(c.control) || 0) + 1); if (c.outcome === 'gain') gains++; }
      else if (c.status === 'withdrawn') withdrawn++; else awaiting++;
    }
    const codes = [...counts.keys()].filter((k) => k !== 'NOC').sort((a, b) => partyIndex(a) - partyIndex(b));
    if (counts.has('NOC')) codes.push('NOC');
    const key = (cls, style, label) => `<li><svg class="key" viewBox="0 0 20 20" aria-hidden="true"><path class="${cls}" ${style} d="M10 1L18 5.5V14.5L10 19L2 14.5V5.5Z"/>`
      + `${cls.includes('is-gain') ? '<circle class="gain-dot" cx="10" cy="10" r="2.6"/>' : ''}</svg>${label}</li>`;
    $('legend').innerHTML = codes.map((code) => key('hex', `style="fill:${code === 'NOC' ? 'url(#hatch-noc)' : colour(code)}"`,
      `${esc(partyName(code))} <span class="muted">(${counts.get(code)})</span>`)).join('')
      + key('hex key-gain is-gain', 'style="fill:#fff"', `Changed hands (gain) <span class="muted">(${gains})</span>`)
      + key('hex', 'data-status="awaiting"', `Awaiting declaration <span class="muted">(${awaiting})</span>`)
      + (withdrawn ? key('hex', 'data-status="withdrawn"', `Result withdrawn <span class="muted">(${withdrawn})</span>`) : '')
      + key('hex', 'data-status="none"', 'No council election in 2023');
  }

  // ---- start ----
  updateStatus();
  loadElection();
  loadHexes();
  openStream();
})();
