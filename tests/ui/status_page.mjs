// Drives the status page the way a person sees it, in Debian's headless Chromium, and
// prints what it saw as one JSON line. tests/status_page.rs starts the server, arranges
// the queues, runs this script and asserts on its report; this script decides nothing.
//
// Environment: BASE_URL, HELD_PATH (API path of the queue with a holder), HOLDER_SHA,
// OTHER_PATH (API path of the other queue), SHOT_DIR (where screenshots go),
// CHROMIUM (default /usr/bin/chromium).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const base = env('BASE_URL');
const heldPath = env('HELD_PATH');
const holderSha = env('HOLDER_SHA');
const otherPath = env('OTHER_PATH');
const shotDir = env('SHOT_DIR');
const executablePath = env('CHROMIUM', '/usr/bin/chromium');

const profile = mkdtempSync(join(tmpdir(), 'mq-ui-chromium-'));
const report = { consoleErrors: [], pageErrors: [], dialogs: [] };
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 420, height: 900 },
  deviceScaleFactor: 1,
});
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') report.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => report.pageErrors.push(String(e)));
  let acceptDialogs = false;
  page.on('dialog', (d) => {
    report.dialogs.push(`${d.type()}: ${d.message()}`);
    if (acceptDialogs) d.accept(d.type() === 'prompt' ? 'from the browser test' : undefined);
    else d.dismiss();
  });

  // The overview lists every queue.
  await page.goto(`${base}/ui`);
  report.overview = await page.$$eval('li.queue', (items) => items.map((li) => ({
    key: li.getAttribute('data-key'),
    state: li.querySelector('[data-field=state]')?.textContent.trim(),
    holder: li.querySelector('[data-field=holder]')?.textContent.replace(/\s+/g, ' ').trim(),
    href: li.querySelector('a.key')?.getAttribute('href'),
  })));
  report.viewportMeta = await page.$eval('meta[name=viewport]', (m) => m.content).catch(() => null);
  await page.screenshot({ path: join(shotDir, 'status-page-overview.png'), fullPage: true });

  // A person clicks through to the queue with the holder.
  await page.click(`a.key[href="/ui${heldPath}"]`);
  await page.waitForSelector('#round-state');
  const read = () => page.evaluate(() => ({
    round: document.getElementById('round-state')?.textContent.trim() ?? null,
    holderSha: document.getElementById('holder-sha')?.textContent.trim() ?? null,
    holderStatus: document.getElementById('holder-status')?.textContent.trim() ?? null,
    adminButtons: [...document.querySelectorAll('#admin button')].map((b) => b.textContent.trim()),
    events: [...document.querySelectorAll('#events .kind')].map((e) => e.textContent.trim()),
    marker: window.__statusPageMarker ?? null,
    navigations: performance.getEntriesByType('navigation').length,
    url: location.href,
  }));
  report.before = await read();
  await page.screenshot({ path: join(shotDir, 'status-page-queue.png'), fullPage: true });

  // Mark this document: a reload would lose the marker.
  await page.evaluate(() => { window.__statusPageMarker = 'same-document'; });

  // The run releases through the API (not through the page).
  const res = await fetch(`${base}${heldPath}/release`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ head_sha: holderSha, status: 'success' }),
  });
  const releasedAt = Date.now();
  report.releaseStatus = res.status;
  await res.text();
  try {
    await page.waitForFunction(
      () => document.getElementById('round-state')?.textContent.trim() !== 'held',
      null, { timeout: 8000, polling: 25 });
    report.changedAfterMs = Date.now() - releasedAt;
  } catch (e) {
    report.changedAfterMs = null;
    report.waitError = String(e).split('\n')[0];
  }
  report.after = await read();
  await page.screenshot({ path: join(shotDir, 'status-page-after-release.png'), fullPage: true });

  // The other queue: its head_ref carries markup, which must show as text.
  await page.goto(`${base}/ui${otherPath}`);
  await page.waitForTimeout(1500); // at least one live refresh swaps the fragment in
  report.other = await page.evaluate(() => ({
    round: document.getElementById('round-state')?.textContent.trim() ?? null,
    window: document.getElementById('window')?.textContent.replace(/\s+/g, ' ').trim() ?? null,
    injectedImages: document.querySelectorAll('#live img, #live script').length,
    headRefText: [...document.querySelectorAll('#live .sub')].map((e) => e.textContent).join('\n'),
    pwned: document.title === 'pwned' || window.__pwned === true,
  }));

  // Admin controls: Pause asks for a reason and shows the API's answer (an error too);
  // Clear asks for confirmation, then the round is gone from the page.
  report.consoleErrorsBeforeAdmin = [...report.consoleErrors];
  acceptDialogs = true;
  const clickAndRead = async (label) => {
    await page.evaluate(() => { const r = document.getElementById('action-result'); r.hidden = true; r.textContent = ''; });
    await page.click(`#admin button:has-text("${label}")`);
    await page.waitForFunction(() => !document.getElementById('action-result').hidden, null, { timeout: 5000 });
    return page.$eval('#action-result', (r) => r.textContent);
  };
  if (await page.$('#admin button')) {
    report.pauseResult = await clickAndRead('Pause');
    report.clearResult = await clickAndRead('Clear');
    await page.waitForFunction(
      () => document.getElementById('round-state')?.textContent.trim() === 'idle',
      null, { timeout: 5000 }).catch(() => {});
    report.afterClear = await page.evaluate(() => document.getElementById('round-state')?.textContent.trim());
  }
  report.screenshots = ['status-page-overview.png', 'status-page-queue.png',
    'status-page-after-release.png'].map((f) => join(shotDir, f));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
