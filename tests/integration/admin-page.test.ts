/**
 * The admin page and Swagger UI in a real browser: Debian's Chromium driven by playwright-core,
 * headless, on a phone-sized screen, against the local API Gateway and the real handlers. It signs in,
 * creates a product, watches a small sale move the numbers and the sparkline, adjusts stock, releases
 * a lock held by a stuck holder, and runs verify; every request the page makes stays on the service.
 * Screenshots go to test-output/admin-page/. Without /usr/bin/chromium these tests are skipped, and
 * their name says so.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productLocks } from '../../shared/wiring/redis.ts';
import { startTestApi, type TestApi, unique } from '../support/api.ts';
import { services } from '../support/app.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const SHOTS = join(process.cwd(), 'test-output', 'admin-page');
const title = hasChromium
  ? 'the admin page in Chromium'
  : `the admin page in Chromium: SKIPPED, ${CHROMIUM} is not installed (apt-get install chromium)`;
if (!hasChromium)
  console.warn(`browser tests skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

describe.skipIf(!hasChromium)(title, () => {
  let api: TestApi;
  let browser: Browser;
  let page: Page;
  const outside: string[] = [];
  const username = unique('boss');
  const password = 'dashboard-password';

  beforeAll(async () => {
    api = await startTestApi();
    await (await services()).accounts.upsertAdmin(username, password);
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-default-apps',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    page = await context.newPage();
    page.on('request', (request) => {
      if (!request.url().startsWith(api.url)) outside.push(request.url());
    });
  });

  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const card = (id: number) => page.locator(`.card[data-product-id="${id}"]`);
  const field = (id: number, name: string) => card(id).locator(`[data-field="${name}"]`);

  it('signs in, creates a product, watches a sale, adjusts stock, releases a lock and verifies', async () => {
    await page.goto(`${api.url}/admin`);
    await page.getByLabel('username').fill(username);
    await page.getByLabel('password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#app').waitFor({ state: 'visible' });
    await shot('1-signed-in');

    const name = unique('sneaker');
    const form = page.locator('#create-form');
    await form.getByLabel('name').fill(name);
    await form.getByLabel('price').fill('1000');
    await form.getByLabel('stock').fill('20');
    await form.getByLabel('strategy').selectOption('lock');
    await form.getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => page.locator('#status').textContent()).toContain(`Created #`);
    const id = Number((await page.locator('#status').textContent())?.match(/#(\d+)/)?.[1]);
    await card(id).waitFor();
    await expect.poll(() => field(id, 'redis_stock').textContent()).toBe('20');

    // A small sale: eight buyers, one unit each.
    const crowd = await Promise.all(Array.from({ length: 8 }, () => api.user('page-buyer')));
    const sold = await Promise.all(
      crowd.map((b) =>
        api.request('POST', '/api/purchases', { token: b.token, body: { product_id: id, quantity: 1 } }),
      ),
    );
    expect(sold.every((r) => r.status === 200)).toBe(true);
    await expect.poll(() => field(id, 'sold').textContent(), { timeout: 15_000 }).toBe('8');
    // The card's fields come from more than one read of the page's refresh: each settles on its own.
    await expect.poll(() => field(id, 'db_stock').textContent(), { timeout: 15_000 }).toBe('12');
    await expect.poll(() => field(id, 'redis_stock').textContent(), { timeout: 15_000 }).toBe('12');
    // The sparkline drew the sale: some point of the line is above the baseline.
    const points = await card(id).locator('polyline').getAttribute('points');
    const heights = (points ?? '').split(' ').map((p) => Number(p.split(',')[1]));
    expect(Math.min(...heights)).toBeLessThan(34);
    await shot('2-after-sale');

    await card(id).getByLabel('delta').fill('5');
    await card(id).getByLabel('reason').fill('found a box');
    await card(id).getByRole('button', { name: 'Adjust' }).click();
    await expect.poll(() => page.locator('#status').textContent()).toContain(`Adjusted #${id} by 5`);
    await expect.poll(() => field(id, 'db_stock').textContent()).toBe('17');
    await expect.poll(() => field(id, 'redis_stock').textContent()).toBe('17');
    await expect.poll(() => page.locator('#audit').textContent()).toContain('found a box');
    await shot('3-adjusted');

    // A stuck holder: the page shows the lock held, and frees it.
    const locks = await productLocks.get();
    const stuck = await locks.acquire(String(id), { ttlMs: 60_000 });
    await expect.poll(() => field(id, 'lock').textContent(), { timeout: 15_000 }).toMatch(/lock: held/);
    await shot('4-lock-held');
    await card(id).getByRole('button', { name: 'Release lock' }).click();
    await expect.poll(() => page.locator('#status').textContent()).toContain(`Lock of #${id} released`);
    await expect.poll(() => field(id, 'lock').textContent()).toMatch(/lock: free/);
    expect(await locks.release(stuck)).toBe('not-held');

    await page.getByTestId('run-verify').click();
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 30_000 }).toMatch(/^Verify: /);
    await shot('5-verified');
    expect(outside).toEqual([]);
  }, 120_000);

  it('serves Swagger UI from the service, rendering every operation of the document', async () => {
    await page.goto(`${api.url}/api/docs`);
    await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
    const operations = await page.locator('.opblock').count();
    const document = await api.request('GET', '/api/openapi.json');
    const documented = Object.values(document.body.paths as Record<string, object>).reduce(
      (n: number, ops) => n + Object.keys(ops).length,
      0,
    );
    expect(operations).toBe(documented);
    await shot('6-swagger-ui');
    expect(outside).toEqual([]);
  }, 60_000);
});
