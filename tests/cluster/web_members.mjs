// Drives the Clustered Systems list of the Clustering page of one node:
// steps run in order, each waiting for what the page must show. Run by
// test_join_web.py inside a lab node's network namespace:
//   node web_members.mjs '{"url": "https://10.213.X.11", "password": "...",
//                          "steps": [{"do": "members", "count": 3, "state": "up"},
//                                    {"do": "role", "member": "10.213.X.13", "role": "standby"},
//                                    {"do": "state", "member": "10.213.X.13", "state": "down", "light": "red"},
//                                    {"do": "remove", "member": "10.213.X.13"},
//                                    {"do": "leave"}]}'
// Prints one JSON line {"ok": true, "members": [...]} or {"ok": false, "error": ...}.
import { chromium } from '../browser/node_modules/playwright-core/index.mjs';

const a = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const ROW = '[data-testid="cluster-member"]';

function rowsNow(page) {
	return page.locator(ROW).evaluateAll((els) => els.map((e) => ({
		state: e.dataset.state, text: e.innerText.replace(/\s+/g, ' ').slice(0, 200) })));
}

// the row of a member, found by its address or name in the text
const row = (page, who) => page.locator(ROW, { hasText: who });

const STEPS = {
	async members(page, s) {
		await page.waitForFunction(([sel, n, st]) => {
			const r = [...document.querySelectorAll(sel)];
			return r.length === n && (!st || r.every((e) => e.dataset.state === st));
		}, [ROW, s.count, s.state || null], { timeout: (s.timeout || 60) * 1000 });
	},
	async state(page, s) {
		// the list is rebuilt at every refresh: look the row up each time
		await page.waitForFunction(([sel, who, st, light]) => {
			const r = [...document.querySelectorAll(sel)].find((e) => e.innerText.includes(who));
			return r && r.dataset.state === st && (!light || r.querySelector('.light.l-' + light));
		}, [ROW, s.member, s.state, s.light || null], { timeout: (s.timeout || 30) * 1000 });
	},
	async role(page, s) {
		const sel = row(page, s.member).locator('select');
		await sel.selectOption(s.role);
		await page.locator('.toast', { hasText: `is now ${s.role}` }).waitFor();
		// still so after the next refreshes of the list
		await page.waitForTimeout(3500);
		const v = await row(page, s.member).locator('select').inputValue();
		if (v !== s.role)
			throw new Error(`the role of ${s.member} shows ${v} after a refresh, not ${s.role}`);
	},
	async remove(page, s) {
		await row(page, s.member).getByRole('button', { name: /Remove/ }).click();
		await page.getByRole('dialog').getByRole('button', { name: 'Remove member' }).click();
		await page.locator('.toast', { hasText: 'removed from the cluster' }).waitFor();
		await row(page, s.member).waitFor({ state: 'detached', timeout: 30000 });
	},
	async leave(page) {
		await page.getByRole('button', { name: 'Leave cluster' }).click();
		await page.getByRole('dialog').getByRole('button', { name: 'Leave cluster' }).click();
		await page.locator('.toast', { hasText: 'left the cluster' }).waitFor({ timeout: 30000 });
		// a single node again: the join form is back and it lists itself alone
		await page.getByLabel('Cluster', { exact: true }).waitFor();
		await STEPS.members(page, { count: 1, state: 'up', timeout: 30 });
	},
};

let browser;
try {
	browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: ['--no-sandbox', '--disable-dev-shm-usage'],
	});
	const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
	page.setDefaultTimeout(15000);
	const errors = [];
	page.on('pageerror', (e) => errors.push(e.message));
	await page.goto(a.url + '/');
	await page.getByLabel('Password', { exact: true }).fill(a.password);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.locator('.topbar .who', { hasText: 'admin' }).waitFor();
	await page.goto(a.url + '/#/advanced/cluster');
	await page.locator(ROW).first().waitFor();
	for (const s of a.steps) {
		try {
			await STEPS[s.do](page, s);
		} catch (e) {
			throw new Error(`step ${JSON.stringify(s)}: ${e.message}; members shown: ${JSON.stringify(await rowsNow(page))}`);
		}
	}
	if (errors.length)
		throw new Error('JavaScript errors in the page: ' + errors.join('; '));
	if (a.shot) await page.screenshot({ path: a.shot, fullPage: true });
	out({ ok: true, members: await rowsNow(page) });
} catch (e) {
	out({ ok: false, error: String(e && e.message ? e.message : e).slice(0, 3000) });
	process.exitCode = 1;
} finally {
	if (browser) await browser.close();
}
