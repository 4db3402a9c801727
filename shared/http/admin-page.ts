/**
 * The admin dashboard: one HTML page with a small script, no build step and nothing fetched from
 * outside the service. It signs in through the API (the token stays in this tab's sessionStorage) and
 * polls the admin API once a second: the inventory audit (durable and live stock, held, sold, the
 * last reconcile) and each product's lock. Sales per second come from the change in `sold` between
 * polls, drawn as a sparkline. Every action is one API call; the page holds no logic of its own.
 */
export const adminPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Flash-sale admin</title>
<style>
  :root { font: 15px/1.4 system-ui, sans-serif; color: #1d232a; background: #f4f6f8; }
  body { margin: 0; }
  header { display: flex; gap: .75rem; align-items: center; justify-content: space-between;
    padding: .6rem 1rem; background: #1d232a; color: #fff; position: sticky; top: 0; }
  header h1 { font-size: 1rem; margin: 0; }
  main { padding: .75rem; max-width: 1100px; margin: 0 auto; }
  section { background: #fff; border-radius: 8px; padding: .75rem; margin-bottom: .75rem;
    box-shadow: 0 1px 2px #0002; }
  h2 { font-size: .95rem; margin: 0 0 .5rem; }
  form { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; }
  input, select, button { font: inherit; padding: .35rem .5rem; border: 1px solid #b8c0c8; border-radius: 5px; }
  input { min-width: 0; }
  button { background: #2456c7; color: #fff; border-color: #2456c7; cursor: pointer; }
  button.quiet { background: #fff; color: #2456c7; }
  button.danger { background: #b3261e; border-color: #b3261e; }
  .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: .75rem; }
  .card { border: 1px solid #dde2e7; border-radius: 8px; padding: .6rem; }
  .card h3 { font-size: .95rem; margin: 0 0 .4rem; display: flex; justify-content: space-between; gap: .5rem; }
  .nums { display: grid; grid-template-columns: repeat(4, 1fr); gap: .25rem; text-align: center; }
  .nums b { display: block; font-size: 1.15rem; font-variant-numeric: tabular-nums; }
  .nums span { font-size: .72rem; color: #5b6670; }
  .bad { color: #b3261e; } .ok { color: #1b7f3b; }
  .row { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; margin-top: .45rem; font-size: .85rem; }
  .row input { width: 5.5rem; }
  svg.spark { width: 100%; height: 36px; display: block; margin-top: .35rem; background: #f4f6f8; border-radius: 4px; }
  #status { font-size: .85rem; min-height: 1.2em; }
  table { width: 100%; border-collapse: collapse; font-size: .8rem; }
  td, th { text-align: left; padding: .25rem .3rem; border-bottom: 1px solid #eef1f4; vertical-align: top; }
  [hidden] { display: none !important; }
  @media (max-width: 480px) { .nums b { font-size: 1rem; } main { padding: .4rem; } }
</style>
</head>
<body>
<header><h1>Flash-sale admin</h1><span id="who"></span></header>
<main>
  <section id="signin">
    <h2>Sign in</h2>
    <form id="signin-form">
      <input name="username" autocomplete="username" placeholder="username" required aria-label="username">
      <input name="password" type="password" autocomplete="current-password" placeholder="password" required aria-label="password">
      <button type="submit">Sign in</button>
    </form>
  </section>
  <div id="app" hidden>
    <section>
      <h2>Inventory <span id="consistent" data-testid="consistent"></span></h2>
      <div id="status" role="status" data-testid="status"></div>
      <div class="row" id="reconcile" data-testid="last-reconcile">Last reconcile: none yet</div>
      <div class="row"><button id="verify" class="quiet" data-testid="run-verify">Run verify</button>
        <button id="signout" class="quiet">Sign out</button></div>
    </section>
    <section>
      <h2>New product</h2>
      <form id="create-form">
        <input name="name" placeholder="name" required aria-label="name">
        <input name="price" type="number" min="0" placeholder="price" required aria-label="price">
        <input name="stock" type="number" min="0" placeholder="stock" required aria-label="stock">
        <select name="strategy" aria-label="strategy"><option>lock</option><option>atomic</option></select>
        <input name="max_per_user" type="number" min="1" placeholder="max per buyer" aria-label="max per buyer">
        <button type="submit">Create</button>
      </form>
    </section>
    <section>
      <h2>Products <span id="shown"></span></h2>
      <div class="cards" id="products"></div>
    </section>
    <section>
      <h2>Audit log</h2>
      <table><thead><tr><th>at</th><th>who</th><th>what</th><th>product</th><th>Δ</th><th>why</th></tr></thead>
      <tbody id="audit"></tbody></table>
    </section>
  </div>
</main>
<script>
(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const history = new Map(); // product id -> [{t, sold}]
  const HISTORY = 60;
  let token = sessionStorage.getItem('token');
  let timer;

  async function api(method, path, body) {
    const response = await fetch('/api' + path, {
      method,
      headers: { ...(token && { authorization: 'Bearer ' + token }), ...(body && { 'content-type': 'application/json' }) },
      ...(body && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (response.status === 401 || response.status === 403) signOut(data && data.detail);
    if (!response.ok) throw new Error((data && data.detail) || response.statusText);
    return data;
  }

  const say = (text, bad) => { const s = $('#status'); s.textContent = text; s.className = bad ? 'bad' : ''; };
  const act = (fn) => async (event) => {
    event.preventDefault();
    try {
      say(await fn(event));
      if (document.activeElement) document.activeElement.blur();
      await refresh();
    } catch (error) { say(error.message, true); }
  };

  function signOut(reason) {
    token = null; sessionStorage.removeItem('token'); clearInterval(timer);
    $('#app').hidden = true; $('#signin').hidden = false; $('#who').textContent = reason || '';
  }

  async function signedIn() {
    const me = await api('GET', '/auth/me');
    $('#who').textContent = me.username + ' (' + me.role + ')';
    $('#signin').hidden = true; $('#app').hidden = false;
    await refresh();
    timer = setInterval(() => refresh().catch((e) => say(e.message, true)), 1000);
  }

  function sparkline(points) {
    const rates = [];
    for (let i = 1; i < points.length; i++) {
      const dt = (points[i].t - points[i - 1].t) / 1000;
      rates.push(dt > 0 ? Math.max(0, points[i].sold - points[i - 1].sold) / dt : 0);
    }
    const max = Math.max(1, ...rates);
    const step = 100 / Math.max(1, HISTORY - 1);
    const coords = rates.map((r, i) => (i * step).toFixed(1) + ',' + (34 - (r / max) * 32).toFixed(1)).join(' ');
    const last = rates.length ? rates[rates.length - 1] : 0;
    return { last, svg: '<svg class="spark" viewBox="0 0 100 36" preserveAspectRatio="none" aria-label="sales per second">' +
      '<polyline fill="none" stroke="#2456c7" stroke-width="1.5" vector-effect="non-scaling-stroke" points="' + coords + '"/></svg>' };
  }

  function card(product, audit, lock) {
    const el = document.createElement('div');
    el.className = 'card'; el.dataset.productId = product.id; el.dataset.testid = 'product';
    const points = history.get(product.id) || [];
    const spark = sparkline(points);
    el.innerHTML =
      '<h3><span></span><span class="' + (audit.ok ? 'ok' : 'bad') + '">' + (audit.ok ? 'ok' : 'check') + '</span></h3>' +
      '<div class="nums">' +
      '<div><b data-field="redis_stock">' + (audit.redis_stock ?? '–') + '</b><span>redis</span></div>' +
      '<div><b data-field="db_stock">' + audit.db_stock + '</b><span>db</span></div>' +
      '<div><b data-field="held">' + (audit.held + audit.reserved) + '</b><span>held</span></div>' +
      '<div><b data-field="sold">' + audit.sold + '</b><span>sold</span></div></div>' +
      spark.svg +
      '<div class="row"><span data-field="rate">' + spark.last.toFixed(1) + ' sales/s</span>' +
      '<span data-field="lock">lock: ' + (lock ? (lock.held ? 'held ' + lock.ttl_ms + ' ms' : 'free') + ', ' + lock.waiting + ' waiting' : '–') + '</span></div>' +
      '<form class="row adjust"><input name="delta" type="number" placeholder="±units" required aria-label="delta">' +
      '<input name="reason" placeholder="reason" required aria-label="reason"><button>Adjust</button></form>' +
      '<div class="row"><button class="quiet release">Release lock</button>' +
      '<button class="quiet deal-start">Start deal</button><button class="quiet deal-end">End deal</button></div>';
    $('h3 span', el).textContent = '#' + product.id + ' ' + product.name + ' · ' + product.price + ' won' +
      (product.max_per_user ? ' · at most ' + product.max_per_user + ' per buyer' : '');
    $('.adjust', el).addEventListener('submit', act(async (e) => {
      const form = new FormData(e.target);
      const r = await api('POST', '/admin/products/' + product.id + '/stock-adjustments',
        { delta: Number(form.get('delta')), reason: String(form.get('reason')) });
      return 'Adjusted #' + product.id + ' by ' + r.delta + ': db ' + r.db_stock + ', redis ' + r.redis_stock;
    }));
    $('.release', el).addEventListener('click', act(async () => {
      await api('DELETE', '/admin/locks/' + product.id);
      return 'Lock of #' + product.id + ' released';
    }));
    $('.deal-start', el).addEventListener('click', act(async () => {
      await api('POST', '/products/' + product.id + '/hotdeal/start', {});
      return 'Hot deal on #' + product.id + ' started';
    }));
    $('.deal-end', el).addEventListener('click', act(async () => {
      const r = await api('POST', '/products/' + product.id + '/hotdeal/end');
      return 'Hot deal on #' + product.id + ' ended; ' + r.released + ' units back';
    }));
    return el;
  }

  // The newest products: a sale's catalogue is small, and each one shown costs a poll a second.
  const SHOWN = 12;
  let busy = false;

  async function refresh() {
    if (!token || busy) return;
    busy = true;
    try { await redraw(); } finally { busy = false; }
  }

  async function redraw() {
    const all = await api('GET', '/products?limit=1000');
    const products = all.slice(-SHOWN).reverse();
    const ids = products.map((p) => p.id).join(',');
    const [inventory, audit] = await Promise.all([
      api('GET', '/admin/inventory/verify' + (ids ? '?product_id=' + ids : '')),
      api('GET', '/admin/audit?limit=20'),
    ]);
    $('#shown').textContent = all.length > SHOWN ? '(newest ' + SHOWN + ' of ' + all.length + ')' : '';
    const locks = await Promise.all(products.map((p) => api('GET', '/admin/locks/' + p.id).catch(() => null)));
    const audits = new Map(inventory.products.map((a) => [a.product_id, a]));
    const now = Date.now();
    const list = $('#products');
    const typing = document.activeElement && document.activeElement.matches('.card input');
    const focused = typing ? document.activeElement.closest('.card') : null;
    products.forEach((product, i) => {
      const a = audits.get(product.id);
      if (!a) return;
      const points = history.get(product.id) || [];
      points.push({ t: now, sold: a.sold });
      if (points.length > HISTORY) points.shift();
      history.set(product.id, points);
      const existing = list.querySelector('[data-product-id="' + product.id + '"]');
      // Leave the card being typed in alone; the next poll redraws it.
      if (existing && existing === focused) return;
      const fresh = card(product, a, locks[i]);
      if (existing) existing.replaceWith(fresh); else list.append(fresh);
    });
    for (const el of list.querySelectorAll('.card')) {
      if (!audits.has(Number(el.dataset.productId))) el.remove();
    }
    $('#consistent').textContent = inventory.consistent ? '· shown products consistent' : '· NOT consistent';
    $('#consistent').className = inventory.consistent ? 'ok' : 'bad';
    const last = inventory.last_reconcile;
    $('#reconcile').textContent = last
      ? 'Last reconcile: ' + new Date(last.at).toLocaleTimeString() + ' · ' + last.products + ' products, ' +
        last.restored + ' restored, ' + (last.holds_committed + last.holds_released) + ' holds settled, ' +
        last.repaired + ' repaired, ' + last.failed + ' failed (' + last.duration_ms + ' ms)'
      : 'Last reconcile: none yet';
    const rows = audit.items.map((e) => {
      const tr = document.createElement('tr');
      for (const value of [new Date(e.at).toLocaleTimeString(), e.actor, e.action, e.product_id ?? '', e.delta ?? '', e.reason ?? '']) {
        const td = document.createElement('td'); td.textContent = String(value); tr.append(td);
      }
      return tr;
    });
    $('#audit').replaceChildren(...rows);
  }

  $('#signin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      const r = await api('POST', '/auth/login', { username: form.get('username'), password: form.get('password') });
      token = r.access_token; sessionStorage.setItem('token', token);
      await signedIn();
    } catch (error) { $('#who').textContent = error.message; }
  });
  $('#create-form').addEventListener('submit', act(async (e) => {
    const form = new FormData(e.target);
    const p = await api('POST', '/products', { name: form.get('name'), price: Number(form.get('price')),
      stock: Number(form.get('stock')), strategy: form.get('strategy'),
      max_per_user: form.get('max_per_user') ? Number(form.get('max_per_user')) : null });
    e.target.reset();
    return 'Created #' + p.id + ' ' + p.name;
  }));
  $('#verify').addEventListener('click', act(async () => {
    const r = await api('GET', '/admin/inventory/verify');
    return 'Verify: ' + (r.consistent ? 'consistent' : 'NOT consistent') + ' across ' + r.products.length + ' products';
  }));
  $('#signout').addEventListener('click', () => signOut());
  if (token) signedIn().catch(() => signOut());
})();
</script>
</body>
</html>
`;
