// moat admin dashboard. A plain script with no dependencies: it signs in
// with the admin token or a login link of `moat dashboard` (a one-time code
// in the URL fragment, traded for a session token), polls api/stats every
// second, computes rates from successive polls and draws the last five
// minutes as inline SVG. All data is put in the page as text (never as
// HTML): keys, URLs and tags come from client requests.
'use strict';
(() => {
  const TOKEN_KEY = 'moat.adminToken'; // the admin token, or a session token from a login link
  const POLL_MS = 1000;
  const KEYS_EVERY = 3; // polls between refreshes of the hottest keys
  const WINDOW_S = 300; // seconds of history the charts show
  const RATE_S = 5; // seconds the requests/s figures average over
  const $ = (id) => document.getElementById(id);

  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  // generation bumps on every sign-in and sign-out; a poll loop or a reply
  // from an older generation stops instead of drawing over the new state.
  let generation = 0;
  let prev = null; // the previous /api/stats answer, for the charts' rates
  let recent = []; // the answers of the last RATE_S seconds, for steadier rates
  let history = []; // one point per poll: {t, rate, origin, hit, offload, p50, p99}
  let routeInfo = new Map(); // route pattern -> its /api/routes entry
  let wake = null; // ends the current wait between polls early
  let forceKeys = false;

  class AuthError extends Error {}

  async function api(path, init = {}) {
    const headers = Object.assign({ Authorization: 'Bearer ' + token }, init.headers);
    const res = await fetch(path, Object.assign({}, init, {
      headers, cache: 'no-store', signal: AbortSignal.timeout(5000),
    }));
    if (res.status === 401) throw new AuthError('the token was rejected');
    let body = null;
    try { body = await res.json(); } catch (_) { /* not JSON: use the status line */ }
    if (!res.ok) throw new Error((body && body.error) || `${res.status} ${res.statusText}`);
    return body;
  }

  // ---- DOM and formatting helpers ----

  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    e.append(...children);
    return e;
  }
  function svg(tag, attrs, ...children) {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    e.append(...children);
    return e;
  }
  const td = (content, attrs) => h('td', attrs, content);
  function fillTable(id, rows, cols, empty) {
    const body = $(id).tBodies[0];
    body.replaceChildren(...(rows.length ? rows : [h('tr', {}, td(empty, { colspan: cols, class: 'empty' }))]));
  }
  const set = (id, text) => { $(id).textContent = text; };

  const int = (n) => Math.round(n || 0).toLocaleString('en-US');
  const pct = (ratio) => (100 * (ratio || 0)).toFixed(1) + '%';
  function num(x) {
    if (x == null || !isFinite(x)) return '–';
    return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
  }
  function ms(x) {
    if (x == null) return '–';
    return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
  }
  function bytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    for (n = n || 0; n >= 1024 && i < units.length - 1; i++) n /= 1024;
    return (i === 0 ? n.toFixed(0) : n.toFixed(n >= 100 ? 0 : 1)) + ' ' + units[i];
  }
  function dur(s) {
    if (s == null) return '–';
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + 's';
    const two = (a, ua, b, ub) => a + ua + (b ? ` ${b}${ub}` : '');
    if (s < 3600) return two(Math.floor(s / 60), 'm', s % 60, 's');
    if (s < 86400) return two(Math.floor(s / 3600), 'h', Math.floor(s / 60) % 60, 'm');
    return two(Math.floor(s / 86400), 'd', Math.floor(s / 3600) % 24, 'h');
  }
  function axis(v) {
    if (v >= 1e6) return +(v / 1e6).toFixed(1) + 'M';
    if (v >= 1e3) return +(v / 1e3).toFixed(1) + 'k';
    return String(+v.toFixed(v < 10 ? 2 : 1));
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const e = 10 ** Math.floor(Math.log10(v));
    return [1, 2, 2.5, 5, 10].find((m) => m * e >= v) * e;
  }

  // ---- charts ----

  // drawChart draws series ([key, colour class, filled]) of history into el.
  // Points with a null value (no requests in that second) leave a gap.
  function drawChart(el, series, opt) {
    const W = el.clientWidth || 400, H = el.clientHeight || 150;
    const L = 44, R = 8, T = 8, B = 18;
    const now = history.length ? history[history.length - 1].t : 0;
    const values = history.flatMap((p) => series.map(([k]) => p[k] || 0));
    const max = opt.max || niceMax(Math.max(0, ...values));
    const x = (t) => (L + (W - L - R) * (1 - (now - t) / WINDOW_S)).toFixed(1);
    const y = (v) => (T + (H - T - B) * (1 - Math.min(v, max) / max)).toFixed(1);
    const kids = [];
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      kids.push(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
        svg('text', { x: L - 6, y: +y(v) + 4, 'text-anchor': 'end' }, axis(v) + (opt.unit || '')));
    }
    kids.push(svg('text', { x: L, y: H - 3 }, '5 min ago'),
      svg('text', { x: W - R, y: H - 3, 'text-anchor': 'end' }, 'now'));
    for (const [k, cls, filled] of series) {
      for (const run of runs(k)) {
        const pts = run.map((p) => `${x(p.t)},${y(p[k])}`).join(' ');
        if (run.length === 1) {
          kids.push(svg('circle', { class: cls, cx: x(run[0].t), cy: y(run[0][k]), r: 2 }));
          continue;
        }
        if (filled) {
          const base = y(0);
          kids.push(svg('polygon', { class: 'area ' + cls, points: `${x(run[0].t)},${base} ${pts} ${x(run[run.length - 1].t)},${base}` }));
        }
        kids.push(svg('polyline', { class: cls, points: pts }));
      }
    }
    el.setAttribute('viewBox', `0 0 ${W} ${H}`);
    el.replaceChildren(...kids);
  }
  function runs(key) {
    const out = [];
    let cur = [];
    for (const p of history) {
      if (p[key] == null) { if (cur.length) out.push(cur); cur = []; } else cur.push(p);
    }
    if (cur.length) out.push(cur);
    return out;
  }
  function drawCharts() {
    drawChart($('chart-rate'), [['rate', 's0', true], ['origin', 's1']], {});
    drawChart($('chart-hit'), [['hit', 's0', true]], { max: 100, unit: '%' });
    drawChart($('chart-offload'), [['offload', 's2', true]], { max: 100, unit: '%' });
    drawChart($('chart-latency'), [['p50', 's0'], ['p99', 's3', true]], { unit: 'ms' });
  }

  // ---- rendering /api/stats ----

  function render(s) {
    const t = s.totals || {}, c = s.cache || {}, rf = s.refreshes || {};
    const now = s.uptime_seconds || 0;
    const point = { t: now, p50: t.p50_ms, p99: t.p99_ms };
    if (prev && now > prev.uptime_seconds && t.requests >= prev.totals.requests) {
      const dt = now - prev.uptime_seconds, p = prev.totals;
      const dReq = t.requests - p.requests, dOrigin = t.origin_requests - p.origin_requests;
      point.rate = dReq / dt;
      point.origin = Math.max(0, dOrigin) / dt;
      // As hit_ratio counts them: answered from the cache, fresh, stale or revalidated.
      const dCached = t.hits + t.stale + t.revalidated - (p.hits + p.stale + p.revalidated);
      point.hit = dReq > 0 ? (100 * dCached) / dReq : null;
      point.offload = dReq > 0 ? 100 * Math.min(1, Math.max(0, 1 - dOrigin / dReq)) : null;
    } else if (prev) {
      history = []; // moat restarted: the counters went back
      recent = [];
    }
    history.push(point);
    while (history[0].t < now - WINDOW_S) history.shift();

    // The numbers and the table average over the last RATE_S seconds; one
    // poll's delta jumps about, most of all after an early poll.
    recent.push(s);
    while (recent.length > 2 && recent[1].uptime_seconds <= now - RATE_S) recent.shift();
    const base = recent[0], span = now - base.uptime_seconds;
    const rate = span > 0 ? (t.requests - base.totals.requests) / span : null;

    const any = t.requests > 0;
    set('hit-ratio', any ? pct(t.hit_ratio) : '–');
    set('hit-ratio-now', 'since start' + (point.hit != null ? ` · now ${point.hit.toFixed(0)}%` : ''));
    set('req-rate', num(rate));
    set('requests', int(t.requests) + ' requests');
    set('offload', any ? pct(t.origin_offload) : '–');
    set('origin-requests', int(t.origin_requests) + ' origin requests');
    set('latency', t.p99_ms != null ? ms(t.p99_ms) + ' ms' : '–');
    set('latency-p50', t.p50_ms != null ? `p50 ${ms(t.p50_ms)} ms` : '');
    set('entries', int(c.entries));
    set('evictions', `${int(c.evictions)} evicted · ${int(c.expirations)} expired`);
    set('memory', bytes(c.bytes));
    set('memory-max', c.max_bytes ? `of ${bytes(c.max_bytes)} · ${pct(c.bytes / c.max_bytes)}` : '');
    $('memory-meter').value = c.max_bytes ? c.bytes / c.max_bytes : 0;
    set('meta', `up ${dur(now)} · ${int(s.purges)} purges · ${int(s.invalidations)} invalidations · ` +
      `refreshes ${int(rf.swr)} swr, ${int(rf.early)} early, ${int(rf.predictive)} predictive`);

    renderFleet(s.fleet);
    renderEvents(s.events);

    const before = new Map((base.routes || []).map((r) => [r.route, r.requests]));
    const rows = [];
    const seen = new Set();
    for (const r of [...(s.routes || [])].sort((a, b) => b.requests - a.requests)) {
      seen.add(r.route);
      rows.push(routeRow(r, span > 0 ? (r.requests - (before.get(r.route) || 0)) / span : null));
    }
    for (const pattern of routeInfo.keys()) if (!seen.has(pattern)) rows.push(routeRow({ route: pattern }, null));
    fillTable('routes-table', rows, 13, 'No routes yet.');

    prev = s;
    drawCharts();
  }

  // The fleet card: only with cache.redis, cache.memcached or
  // cache.nats_bus (the answer has "fleet").
  function renderFleet(f) {
    $('fleet').hidden = !f;
    if (!f) return;
    const l2 = f.l2 || {}, ls = f.lease || {}, nb = f.nats_bus;
    const b = f.bus || (nb ? { published: nb.published, delivered: nb.received, gaps: nb.lost } : {});
    const parts = [];
    if (f.redis_connected != null) {
      const healthy = f.redis_connected && (b.read_age_seconds == null || b.read_age_seconds < 3);
      parts.push(healthy ? 'Redis healthy' : 'Redis unhealthy: serving from memory and the origin');
    }
    if (f.l2_tier === 'memcached') parts.push('L2 in Memcached');
    if (nb) parts.push(nb.connected ? 'NATS bus connected' : 'NATS bus down: what this node holds is not trusted after the grace');
    if (l2.breaker_open) parts.push('breaker open');
    if (b.read_age_seconds != null) parts.push(`bus read ${b.read_age_seconds.toFixed(1)}s ago`);
    set('fleet-summary', parts.join(' · '));
    fillTable('fleet-table', [h('tr', {},
      h('td', {}, int(l2.hits)), h('td', {}, int(l2.misses)), h('td', {}, int(l2.written)),
      h('td', {}, int(l2.dropped)),
      h('td', {}, `${int(ls.acquired)} taken · ${int(ls.waited)} waited`),
      h('td', {}, `${int(b.published)} sent · ${int(b.delivered)} heard · ${int(b.gaps)} gaps`),
      h('td', {}, int((f.nodes || []).length)))], 7, '');
  }

  // The event sources card: only with events.sources (the answer has
  // "events"), a row per source with its health.
  function renderEvents(list) {
    $('events').hidden = !list;
    if (!list) return;
    const down = list.filter((s) => !s.status.connected).length;
    set('events-summary', down ? `${down} of ${list.length} sources down` : `${list.length} sources connected`);
    fillTable('events-table', list.map((s) => {
      const dead = Object.values(s.dead_letters || {}).reduce((a, b) => a + b, 0);
      const state = s.status.connected ? 'connected' : 'down' + (s.status.last_error ? ': ' + s.status.last_error : '');
      return h('tr', {},
        h('th', { scope: 'row' }, s.name), td(s.kind), td(state),
        td(s.status.lag >= 0 ? int(s.status.lag) : '–'), td(int(s.received)), td(int(s.applied)),
        td(int(s.duplicates)),
        h('td', { title: Object.entries(s.dead_letters || {}).map(([k, v]) => `${k} ${v}`).join(', ') + (s.last_dead_letter ? '\n' + s.last_dead_letter : '') }, int(dead)),
        td(s.last_event ? dur((Date.now() - Date.parse(s.last_event)) / 1000) + ' ago' : '–'));
    }), 9, '');
  }

  function routeRow(r, rate) {
    const info = routeInfo.get(r.route);
    const ttl = !info ? '' : info.bypass ? 'bypass' : dur(info.ttl_seconds);
    const used = r.requests > 0;
    return h('tr', {},
      h('th', { scope: 'row' }, r.route), td(ttl), td(num(rate)), td(int(r.requests)),
      td(used ? pct(r.hit_ratio) : '–'), td(used ? pct(r.origin_offload) : '–'),
      td(int(r.hits)), td(int(r.misses)), td(int(r.stale)), td(int(r.revalidated)), td(int(r.bypass)),
      td(used ? ms(r.p50_ms) + ' ms' : '–'), td(used ? ms(r.p99_ms) + ' ms' : '–'));
  }

  // ---- hottest keys, routes ----

  async function refreshKeys(gen) {
    const q = new URLSearchParams({ limit: '20' });
    if ($('keys-route').value) q.set('route', $('keys-route').value);
    const res = await api('api/keys?' + q);
    if (gen !== generation) return;
    fillTable('keys-table', (res.keys || []).map(keyRow), 9, 'No keys yet: send some traffic through the gateway.');
  }

  function keyRow(k) {
    // The key starts with the method and the absolute URL the client asked
    // for; that URL is what /api/inspect wants.
    const m = /^[A-Z]+ (https?:\/\/\S+)/.exec(k.key || '');
    const button = h('button', { type: 'button', class: 'small', 'aria-label': 'Inspect ' + (k.url || k.key) }, 'Inspect');
    button.addEventListener('click', () => {
      $('inspect-url').value = m ? m[1] : k.url;
      $('inspect-form').requestSubmit();
    });
    return h('tr', {},
      td(k.url || k.key, { class: 'url', title: k.key || '' }), td(k.route || ''), td(num(k.rate)),
      td(k.stored ? 'yes' : 'no'), td(dur(k.age_seconds)), td(dur(k.ttl_seconds)), td(bytes(k.size)),
      td((k.tags || []).join(' ')), td(button));
  }

  async function loadRoutes(gen) {
    try {
      const res = await api('api/routes');
      if (gen !== generation) return;
      routeInfo = new Map((res.routes || []).map((r) => [r.pattern, r]));
      const sel = $('keys-route'), cur = sel.value;
      sel.replaceChildren(h('option', { value: '' }, 'All routes'),
        ...[...routeInfo.keys()].map((p) => h('option', { value: p }, p)));
      sel.value = cur;
    } catch (err) {
      // The tables still work from /api/stats without the route config.
      if (err instanceof AuthError) failed(gen, err);
    }
  }

  // ---- polling and sign-in ----

  function setStatus(ok, text) {
    set('status', text);
    $('status').classList.toggle('down', !ok);
  }

  function failed(gen, err) {
    if (gen !== generation) return;
    if (err instanceof AuthError) {
      showLogin('Signed out: the token was rejected (the session ended or the admin token changed). Sign in again.');
      return;
    }
    setStatus(false, 'disconnected: ' + err.message);
  }

  async function poll(gen, withKeys) {
    try {
      const s = await api('api/stats');
      if (gen !== generation) return;
      render(s);
      document.body.dataset.polls = +(document.body.dataset.polls || 0) + 1;
      setStatus(true, 'live');
    } catch (err) {
      failed(gen, err);
      return;
    }
    if (withKeys) {
      refreshKeys(gen).catch((err) => {
        if (err instanceof AuthError) failed(gen, err);
        else if (gen === generation) fillTable('keys-table', [], 9, 'Could not load keys: ' + err.message);
      });
    }
  }

  async function run() {
    const gen = ++generation;
    prev = null;
    history = [];
    recent = [];
    document.body.dataset.polls = 0;
    $('login').hidden = true;
    $('dashboard').hidden = false;
    $('logout').hidden = false;
    loadRoutes(gen);
    for (let n = 0; gen === generation; n++) {
      const began = performance.now();
      await poll(gen, n % KEYS_EVERY === 0 || forceKeys);
      forceKeys = false;
      const wait = Math.max(0, POLL_MS - (performance.now() - began));
      await new Promise((resolve) => { wake = resolve; setTimeout(resolve, wait); });
    }
  }

  function pollNow() {
    forceKeys = true;
    if (wake) wake();
  }

  function showLogin(message) {
    generation++;
    token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    $('dashboard').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    set('status', '');
    set('meta', '');
    set('login-error', message || '');
    $('login-token').value = '';
    $('login-token').focus();
  }

  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    token = $('login-token').value.trim();
    set('login-error', '');
    try {
      await api('api/stats');
    } catch (err) {
      showLogin(err instanceof AuthError
        ? 'That token was rejected. Use admin.token from the moat config.'
        : 'Could not reach the admin API: ' + err.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    run();
  });

  // Sign out ends the session on the server (a no-op for the admin token),
  // then forgets the token.
  $('logout').addEventListener('click', async () => {
    $('logout').disabled = true;
    try {
      await fetch('api/logout', {
        method: 'POST', headers: { Authorization: 'Bearer ' + token },
        cache: 'no-store', signal: AbortSignal.timeout(3000),
      });
    } catch (_) { /* unreachable: forget the token anyway; the session expires */ }
    $('logout').disabled = false;
    showLogin('');
  });
  $('keys-route').addEventListener('change', pollNow);
  window.addEventListener('resize', () => { if (!$('dashboard').hidden) drawCharts(); });

  $('inspect-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const q = new URLSearchParams({ url: $('inspect-url').value.trim() });
    for (const line of $('inspect-headers').value.split('\n')) if (line.trim()) q.append('header', line.trim());
    const out = $('inspect-result');
    out.replaceChildren(h('p', { class: 'hint' }, 'Inspecting…'));
    try {
      const r = await api('api/inspect?' + q);
      const rows = Object.entries(r).filter(([k]) => k !== 'verdict')
        .map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), td(show(v))));
      out.replaceChildren(...(r.verdict ? [h('p', { class: 'verdict' }, r.verdict)] : []),
        h('table', {}, h('tbody', {}, ...rows)));
    } catch (err) {
      if (err instanceof AuthError) failed(generation, err);
      else out.replaceChildren(h('p', { class: 'error' }, 'Inspect failed: ' + err.message));
    }
  });

  // show renders one /api/inspect field, whatever its type: the API may add
  // fields, and the table shows them all.
  function show(v) {
    if (v == null || v === '') return '–';
    if (typeof v === 'number') return String(Number.isInteger(v) ? v : +v.toFixed(2));
    if (Array.isArray(v)) return v.length ? v.map(show).join(', ') : '(none)';
    if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}: ${show(x)}`).join(', ') || '(none)';
    return String(v);
  }

  $('purge-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const field = { tag: 'tags', url: 'urls', prefix: 'prefixes' }[$('purge-kind').value];
    const values = $('purge-value').value.split(/\s+/).filter(Boolean);
    const soft = $('purge-soft').checked;
    const out = $('purge-result'), button = $('purge-submit');
    delete out.dataset.affected;
    out.className = '';
    out.textContent = 'Purging…';
    button.disabled = true;
    try {
      const r = await api('purge', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ [field]: values, soft }),
      });
      out.dataset.affected = r.affected;
      out.className = 'ok';
      out.textContent = `${soft ? 'Marked stale' : 'Removed'} ${int(r.affected)} ${r.affected === 1 ? 'entry' : 'entries'} ` +
        `(${soft ? 'soft' : 'hard'} purge of ${$('purge-kind').value} ${values.join(' ')}).`;
      pollNow();
    } catch (err) {
      if (err instanceof AuthError) {
        failed(generation, err);
        return;
      }
      out.className = 'error';
      out.textContent = 'Purge failed: ' + err.message;
    } finally {
      button.disabled = false;
    }
  });

  // loginFromLink signs in with the one-time code of a login link
  // (#login=CODE, from `moat dashboard`). The fragment is never sent to a
  // server; it leaves the address bar and this history entry at once, and
  // the code is spent by the exchange.
  async function loginFromLink() {
    const code = new URLSearchParams(location.hash.slice(1)).get('login');
    if (code == null) return false;
    window.history.replaceState(null, '', location.pathname + location.search); // history is the charts' data here
    generation++; // stop a running poll loop: it would use the old token
    set('status', 'signing in with the login link…');
    try {
      const res = await fetch('api/session', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ code }), cache: 'no-store', signal: AbortSignal.timeout(5000),
      });
      const body = res.ok ? await res.json() : null;
      if (!body || !body.token) {
        showLogin('This login link is invalid or was already used; run moat dashboard again or enter the admin token.');
        return true;
      }
      token = body.token;
    } catch (err) {
      showLogin('Could not reach the admin API: ' + err.message);
      return true;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    set('login-error', '');
    run();
    return true;
  }
  window.addEventListener('hashchange', loginFromLink);

  loginFromLink().then((handled) => {
    if (handled) return;
    if (token) run();
    else showLogin('');
  });
})();
