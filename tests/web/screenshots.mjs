// Screenshots of the search page for docs/web.md (scripts/web_docs.sh runs it):
//   node screenshots.mjs BASE_URL OUT_DIR THEME_MIDI
// Needs playwright-core (NODE_PATH) and Chromium (CHROMIUM, default /usr/bin/chromium).
import { createRequire } from 'module';
const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const [base, out, midi] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--mute-audio', '--font-render-hinting=none'],
});
const page = await browser.newPage({ viewport: { width: 1200, height: 900 }, deviceScaleFactor: 1 });
const settle = async () => {
  await page.waitForLoadState('networkidle');
  await page.waitForTimeout(300);
};

// 1. A typed theme: results, the best match's figure, its player.
await page.goto(`${base}/?theme=${encodeURIComponent('G4 G4 G4 Eb4:4 F4 F4 F4 D4:4')}&top=8`);
await page.waitForSelector('#rows .figure-row img', { timeout: 60000 });
await settle();
await page.screenshot({ path: `${out}/web_search.png`, fullPage: true });
console.log(`wrote ${out}/web_search.png`);

// 2. A MIDI file dropped in (set through the file input), with the theme stretched to 4 s.
await page.goto(base);
await page.setInputFiles('#file', midi);
await page.check('input[name="timing"][value="duration"]');
await page.fill('#duration', '4');
await page.fill('#top', '5');
await page.waitForSelector('#theme-status.ok', { timeout: 20000 });
await page.click('#go');
await page.waitForSelector('#rows .figure-row img', { timeout: 60000 });
await settle();
await page.screenshot({ path: `${out}/web_upload.png`, fullPage: true });
console.log(`wrote ${out}/web_upload.png`);

// 3. In any key and at any tempo, every passage: the theme typed a tone too high, twice too slow.
const info = await page.evaluate(() => fetch('/api/info').then((r) => r.json()));
if (info.transpose_any && info.duration_auto) {
  await page.goto(`${base}/?theme=${encodeURIComponent('A4:2 A4:2 A4:2 F4:8 G4:2 G4:2 G4:2 E4:8')}&transpose=any&duration=auto&occurrences=1&top=5`);
  await page.waitForSelector('#rows .figure-row img', { timeout: 60000 });
  await settle();
  await page.screenshot({ path: `${out}/web_any_key.png`, fullPage: true });
  console.log(`wrote ${out}/web_any_key.png`);
}

// 4. Bad input: the live check names the mistake, the search explains it.
await page.goto(base);
await page.fill('#theme', 'G4 G4 G4 Eb:4 F4');
await page.waitForSelector('#theme-status.bad', { timeout: 20000 });
await page.click('#go');
await page.waitForSelector('#error:not([hidden])', { timeout: 20000 });
await settle();
await page.screenshot({ path: `${out}/web_error.png`, clip: { x: 0, y: 0, width: 1200, height: 520 } });
console.log(`wrote ${out}/web_error.png`);
await browser.close();
