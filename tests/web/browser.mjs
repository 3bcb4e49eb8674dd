// Browser test of leitmotif's search page (tests/cli_web_browser.sh runs it):
//   node browser.mjs BASE_URL THEME EXPECTED_FIRST_ID SCREENSHOT.png
// Drives headless Chromium (CHROMIUM, default /usr/bin/chromium) with playwright-core (NODE_PATH):
// types the theme, waits for the results, checks the first recording, plays the matched passage
// and checks that the player's range request is answered 206 with the byte range asked for,
// loads the figure, and saves a screenshot that it checks is not blank. Exit 0 = pass.
import { createRequire } from 'module';
const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const [base, theme, expected, shot] = process.argv.slice(2);
const fails = [];
const ok = (name) => console.log(`ok   ${name}`);
const bad = (name) => { console.log(`FAIL ${name}`); fails.push(name); };
const check = (cond, name) => (cond ? ok(name) : bad(name));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // Console errors, except the browser's own notes on the 4xx answers this test provokes.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text()); });
  const audioResponses = [];
  page.on('response', async (resp) => {
    if (!resp.url().includes('/audio/')) return;
    const req = resp.request();
    audioResponses.push({ status: resp.status(), range: (await req.allHeaders())['range'] || null,
                          headers: await resp.allHeaders() });
  });

  await page.goto(base, { waitUntil: 'load' });
  await page.waitForFunction(() => !document.getElementById('dbinfo').textContent.includes('connecting'));
  check((await page.textContent('#dbinfo')).includes('recordings'), 'page loads and shows the database');

  // Live validation: a typo is flagged, the real theme is accepted and previewed.
  await page.fill('#theme', 'G4 G4 H4');
  await page.waitForSelector('#theme-status.bad', { timeout: 10000 });
  check((await page.textContent('#theme-status')).includes('H4'), 'live validation names the bad token');
  // Bad input submitted: a message on the page, not a blank page.
  await page.click('#go');
  await page.waitForSelector('#error:not([hidden])', { timeout: 20000 });
  check((await page.textContent('#error')).includes('H4'), 'a bad theme submitted gives a message on the page');
  await page.fill('#theme', '');
  await page.type('#theme', theme, { delay: 5 });
  await page.waitForSelector('#theme-status.ok', { timeout: 10000 });
  check(/✓ \d+ notes?/.test(await page.textContent('#theme-status')), 'live validation accepts the theme');

  // Any key: results with the key of each hit where the server searches in every key, else a message.
  const info = await page.evaluate(() => fetch('/api/info').then((r) => r.json()));
  await page.fill('#top', '5');
  await page.selectOption('#key', 'any');
  await page.click('#go');
  if (info.transpose_any) {
    await page.waitForFunction(() => document.querySelector('#summary').textContent.includes('recordings for'), null, { timeout: 30000 });
    await page.waitForSelector('#rows tr.first .variant', { timeout: 30000 });
    check(/transposed|written key/.test(await page.textContent('#rows tr.first .variant')), 'key "any": each hit names its key');
    check(await page.getAttribute('#rows tr.first', 'data-id') === expected, 'key "any": the right recording first');
  } else {
    await page.waitForFunction(() => document.getElementById('error').textContent.includes('not supported'), null, { timeout: 20000 });
    check(true, 'key "any" answered "not supported yet" on the page');
  }
  await page.selectOption('#key', '0');

  // The search: in progress shown (the answer held back a moment, so that it can be seen), then results.
  await page.route('**/api/search*', async (route) => { await new Promise((r) => setTimeout(r, 400)); await route.continue(); });
  const searching = page.waitForSelector('#busy:not([hidden])', { timeout: 5000 }).then(() => true, () => false);
  await page.click('#go');
  check(await searching, 'search in progress is shown');
  await page.waitForSelector('#busy', { state: 'hidden', timeout: 30000 });
  await page.waitForSelector('#rows tr.first', { timeout: 30000 });
  check(await page.isHidden('#error'), 'no error after a good search');
  const first = await page.getAttribute('#rows tr.first', 'data-id');
  check(first === expected, `the right recording is first (${first})`);
  const passage = await page.textContent('#rows tr.first td.passage');
  const m = /([\d.]+)–([\d.]+) s/.exec(passage);
  check(!!m, `matched passage shown (${passage})`);

  // The figure of the best match.
  await page.waitForSelector('#rows .figure-row img', { timeout: 30000 });
  const figOk = await page.$eval('#rows .figure-row img', (img) => img.decode().then(() => img.naturalWidth > 100, () => false));
  check(figOk, 'figure of the best match loads');

  // Play the matched passage: the player's range request must be answered 206 with its range.
  await page.click('#rows tr.first button.play');
  await page.waitForFunction(() => {
    const a = document.querySelector('#rows tr.first audio');
    return a && a.currentTime > 0;
  }, null, { timeout: 20000 }).catch(() => {});
  const t = await page.$eval('#rows tr.first audio', (a) => ({ cur: a.currentTime, err: a.error && a.error.code }));
  check(m && t.err === null && t.cur >= Number(m[1]) - 0.3, `player starts at the passage (${t.cur.toFixed(2)} s, passage from ${m && m[1]})`);
  await page.waitForTimeout(500);
  const ranged = audioResponses.filter((r) => r.range);
  check(ranged.length > 0, `the player sent range requests (${audioResponses.length} audio responses)`);
  let rangeOk = ranged.length > 0;
  for (const r of ranged) {
    const mm = /^bytes=(\d+)-(\d*)$/.exec(r.range);
    const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(r.headers['content-range'] || '');
    if (!mm || !cr || r.status !== 206) { rangeOk = false; console.log('  range', r.range, r.status, r.headers['content-range']); continue; }
    const size = Number(cr[3]), first = Number(mm[1]);
    const last = mm[2] === '' ? size - 1 : Math.min(Number(mm[2]), size - 1);
    if (Number(cr[1]) !== first || Number(cr[2]) !== last) rangeOk = false;
    if (r.headers['content-length'] !== undefined && Number(r.headers['content-length']) !== last - first + 1) rangeOk = false;
    console.log(`     Range ${r.range} -> ${r.status} Content-Range ${r.headers['content-range']}`);
  }
  check(rangeOk, 'range requests answered 206 with the right byte range');

  await page.screenshot({ path: shot, fullPage: true });
  // Not blank: decode the screenshot in the page and count its colours.
  const b64 = (await import('fs')).readFileSync(shot).toString('base64');
  const stats = await page.evaluate(async (data) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + data;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    const colours = new Set();
    let nonWhite = 0;
    for (let i = 0; i < d.length; i += 4 * 7) {
      colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      if (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240) nonWhite++;
    }
    return { w: c.width, h: c.height, colours: colours.size, nonWhite: nonWhite / (d.length / 28) };
  }, b64).catch((e) => ({ error: String(e) }));
  console.log(`     screenshot ${stats.w}x${stats.h}, ${stats.colours} colours, ${(100 * stats.nonWhite).toFixed(1)}% not white`);
  check(stats.colours > 50 && stats.nonWhite > 0.03, 'screenshot is not blank');
  // A passage in the middle of the recording: the player starts there and stops at its end.
  await page.fill('#theme', 'F4 F4 F4 D4:4');
  await page.fill('#top', '1');
  await page.click('#go');
  await page.waitForFunction(() => document.querySelector('#summary').textContent.includes('for “F4 F4 F4 D4:4”'),
    null, { timeout: 30000 });
  const p2 = /([\d.]+)–([\d.]+) s/.exec(await page.textContent('#rows tr.first td.passage'));
  await page.$eval('#rows tr.first audio', (a) => {
    window.__played = { first: null, last: null };
    a.addEventListener('timeupdate', () => {
      if (a.paused && window.__played.first !== null) return;
      if (window.__played.first === null) window.__played.first = a.currentTime;
      window.__played.last = a.currentTime;
    });
  });
  await page.click('#rows tr.first button.play');
  await page.waitForFunction(() => {
    const a = document.querySelector('#rows tr.first audio');
    return window.__played.first !== null && a.paused;
  }, null, { timeout: 30000 }).catch(() => {});
  const played = await page.evaluate(() => window.__played);
  const s0 = Number(p2 && p2[1]), s1 = Number(p2 && p2[2]);
  console.log(`     passage ${s0}-${s1} s; played from ${played.first} to ${played.last} s`);
  check(played.first !== null && Math.abs(played.first - s0) < 0.35, 'a passage in mid-recording starts at its start');
  check(played.last !== null && played.last >= s1 - 0.35 && played.last <= s1 + 0.5, 'and stops at its end');

  check(pageErrors.length === 0, `no script errors on the page${pageErrors.length ? ': ' + pageErrors.join(' | ') : ''}`);
} catch (e) {
  bad(`browser run: ${e && e.message ? e.message.split('\n')[0] : e}`);
} finally {
  await browser.close();
}
process.exit(fails.length ? 1 : 0);
