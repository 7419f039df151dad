// Joins a node to a cluster through its web interface (the Clustering page),
// driven by Playwright with Debian's Chromium. Run by test_join_web.py inside
// the joiner's network namespace (the lab's addresses are reachable only
// there):
//   node web_join.mjs '{"url": "https://10.213.X.12", "password": "...",
//                       "secret": "...", "target": "10.213.X.11", "shot": "/tmp/x.png"}'
// Prints one JSON line {"ok": true, "members": [...]} or {"ok": false, "error": ...}.
// What the page must offer (agreed in /work/notes/cluster-lab.md): inputs
// labelled "Cluster Shared Secret" (button "Save secret") and "Cluster"
// (button "Join Cluster"); one element per member with
// data-testid="cluster-member" and data-state="up|syncing|down".
import { chromium } from '../browser/node_modules/playwright-core/index.mjs';

const a = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
let browser;
try {
	browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: ['--no-sandbox', '--disable-dev-shm-usage'],
	});
	const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
	page.setDefaultTimeout(15000);
	await page.goto(a.url + '/');
	await page.getByLabel('Password', { exact: true }).fill(a.password);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.locator('.topbar .who', { hasText: 'admin' }).waitFor();
	// ADVANCED > Clustering
	await page.goto(a.url + '/#/advanced/cluster');
	await page.getByLabel('Cluster Shared Secret').fill(a.secret);
	await page.getByRole('button', { name: 'Save secret' }).click();
	await page.getByLabel('Cluster', { exact: true }).fill(a.target);
	await page.getByRole('button', { name: 'Join Cluster' }).click();
	// joined when every member shows up with a green light
	const rows = page.locator('[data-testid="cluster-member"]');
	await page.waitForFunction(() => {
		const r = [...document.querySelectorAll('[data-testid="cluster-member"]')];
		return r.length >= 2 && r.every((e) => e.dataset.state === 'up');
	}, null, { timeout: 60000 });
	const members = await rows.evaluateAll((els) => els.map((e) => ({
		state: e.dataset.state, text: e.innerText.replace(/\s+/g, ' ').slice(0, 200) })));
	if (!members.some((m) => m.text.includes(a.target)))
		throw new Error('the member list does not show ' + a.target + ': ' + JSON.stringify(members));
	if (a.shot) await page.screenshot({ path: a.shot, fullPage: true });
	out({ ok: true, members });
} catch (e) {
	out({ ok: false, error: String(e && e.message ? e.message : e).slice(0, 2000) });
	process.exitCode = 1;
} finally {
	if (browser) await browser.close();
}
