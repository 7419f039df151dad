// Every admin tab once, with its main action: content filters, DNS
// blocklists, the "why?" check, API tokens, the queue, user CSV import,
// Bayes export; role separation between the two apps; an expired session
// brings back the login form.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'playwright-core';
import { adminSession, endSession, apiAs, openBrowser, waitFor, sendMail } from './lib.mjs';

let s, env, ctx, page, adm, tmp;

before(async () => {
	s = await adminSession();
	({ env, ctx, page, adm } = s);
	tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rampart-webui-'));
});

after(async () => {
	if (tmp)
		fs.rmSync(tmp, { recursive: true, force: true });
	await endSession(s);
});

const toast = (text) => page.locator('.toast', { hasText: text });

async function confirm(name) {
	await page.getByRole('dialog').getByRole('button', { name }).click();
}

test('every tab of every page loads', async () => {
	const tabs = {
		basic: ['status', 'scoring', 'quarantine', 'admin'],
		lists: ['ip', 'sender', 'rcpt', 'attach', 'filters', 'dns', 'fingerprints', 'check'],
		advanced: ['protocol', 'rate', 'scanning', 'queue', 'bayes', 'backup', 'tokens', 'cluster'],
	};
	for (const [p, list] of Object.entries(tabs)) {
		for (const t of list) {
			await page.goto(`${env.origin}/#/${p}/${t}`);
			await page.locator(`.subnav a[aria-current="page"][href="#/${p}/${t}"]`).waitFor();
			await page.locator('.page .card').first().waitFor();
			assert.equal(await page.locator('.page .loading').count(), 0, `${p}/${t} still loading`);
			assert.equal(await page.locator('.page .notice.err').count(), 0, `${p}/${t} shows an error`);
		}
	}
	for (const p of ['log', 'domains', 'users']) {
		await page.goto(`${env.origin}/#/${p}`);
		await page.locator(`.mainnav a[aria-current="page"][href="#/${p}"]`).waitFor();
		await page.locator('.page table').first().waitFor();
	}
	// every setting of the settings table is on some page
	const all = (await adm.get('/config')).json.map((s) => s.name);
	const seen = new Set();
	for (const where of ['basic/scoring', 'basic/quarantine', 'basic/admin', 'advanced/protocol', 'advanced/rate', 'advanced/scanning', 'advanced/bayes', 'advanced/cluster']) {
		await page.goto(`${env.origin}/#/${where}`);
		await page.locator('.page form .field').first().waitFor();
		for (const n of await page.locator('.page form [name]').evaluateAll((els) => els.map((e) => e.name)))
			seen.add(n);
	}
	assert.deepEqual(all.filter((n) => !seen.has(n)), [], 'settings without a place in the UI');
});

test('content filters: add, edit, remove', async () => {
	await page.goto(env.origin + '/#/lists/filters');
	const form = page.getByRole('form', { name: 'Content filter' });
	await form.getByLabel('Where').selectOption('header:');
	await form.getByLabel('Header name').fill('X-Mailer');
	await form.getByLabel(/Pattern/).fill('(unclosed');
	await form.getByRole('button', { name: 'Add filter' }).click();
	await form.locator('.error, .form-error').filter({ hasText: /\S/ }).first().waitFor();
	await form.getByLabel(/Pattern/).fill('mass ?mailer');
	await form.getByLabel('Action').selectOption('quarantine');
	await form.getByRole('button', { name: 'Add filter' }).click();
	await toast('Filter added').waitFor();
	const rows = (await adm.get('/filters')).json.rows;
	assert.equal(rows.length, 1);
	assert.deepEqual([rows[0].target, rows[0].pattern, rows[0].action], ['header:x-mailer', 'mass ?mailer', 'quarantine']);
	await page.locator('tbody tr', { hasText: 'mass ?mailer' }).getByRole('button', { name: 'Edit' }).click();
	await form.getByLabel('Action').selectOption('block');
	await form.getByRole('button', { name: /Save filter/ }).click();
	await toast('saved').waitFor();
	assert.equal((await adm.get('/filters')).json.rows[0].action, 'block');
	await page.locator('tbody tr', { hasText: 'mass ?mailer' }).getByRole('button', { name: /Remove/ }).click();
	await confirm('Remove');
	await page.locator('.empty-row', { hasText: 'No content filter yet' }).waitFor();
});

test('DNS blocklists and the check', async () => {
	await page.goto(env.origin + '/#/lists/dns');
	const card = page.locator('section.card', { hasText: 'DNSBL zones' }).first();
	await card.getByLabel('Zone', { exact: true }).fill('bl.example.test');
	await card.getByLabel('Action').selectOption('score');
	await card.getByRole('button', { name: 'Add / replace' }).click();
	await card.locator('.error', { hasText: 'Enter the score' }).waitFor();
	await card.getByLabel('Score').fill('2.5');
	await card.getByRole('button', { name: 'Add / replace' }).click();
	await card.locator('tbody tr', { hasText: 'bl.example.test' }).waitFor();
	const z = (await adm.get('/dnsbl')).json;
	assert.deepEqual(z.map((x) => [x.zone, x.action, x.score]), [['bl.example.test', 'score', 2.5]]);
	// the check names the deciding entry
	assert.equal((await adm.post('/lists/ip_block', { entry: '192.0.2.0/24', comment: 'test net' })).status, 201);
	await page.goto(env.origin + '/#/lists/check');
	await page.getByLabel('Client IP').fill('192.0.2.7');
	await page.getByRole('button', { name: 'Check' }).click();
	await page.locator('tbody tr', { hasText: '192.0.2.0/24' }).waitFor();
});

test('API tokens: create (shown once), revoke', async () => {
	await page.goto(env.origin + '/#/advanced/tokens');
	await page.getByLabel('Name').fill('backup script');
	await page.getByRole('button', { name: 'Create token' }).click();
	const secret = await page.locator('.secret').innerText();
	assert.match(secret, /^rpt_[0-9a-f]+\.[0-9a-f]+$/);
	// the token works for scripts
	const bearer = await request.newContext({ baseURL: env.origin, ignoreHTTPSErrors: true, extraHTTPHeaders: { Authorization: 'Bearer ' + secret } });
	assert.equal((await bearer.get('/api/v1/status')).status(), 200);
	await page.locator('tbody tr', { hasText: 'backup script' }).getByRole('button', { name: 'Revoke' }).click();
	await confirm('Revoke');
	await toast('Token revoked').waitFor();
	assert.deepEqual((await adm.get('/tokens')).json, []);
	assert.equal((await bearer.get('/api/v1/status')).status(), 401);
	await bearer.dispose();
});

test('users: CSV import and export', async () => {
	const csv = path.join(tmp, 'users.csv');
	fs.writeFileSync(csv, 'address,password,settings\nerin@example.test,erin-password-1,false\nnot-an-address,x,true\n');
	await page.goto(env.origin + '/#/users');
	await page.getByRole('button', { name: 'Import / export' }).click();
	await page.getByLabel('CSV file').setInputFiles(csv);
	await page.getByRole('button', { name: 'Import', exact: true }).click();
	await page.locator('.notice', { hasText: '1 created, 0 updated, 1 line(s) skipped' }).waitFor();
	await page.locator('tr[data-user="erin@example.test"]').waitFor();
	const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export CSV' }).click()]);
	const text = fs.readFileSync(await dl.path(), 'utf8');
	assert.match(text, /^address,/);
	assert.match(text, /erin@example\.test/);
});

test('users: reset a password, delete a user', async () => {
	await page.goto(env.origin + '/#/users/' + encodeURIComponent('erin@example.test'));
	const form = page.getByRole('form', { name: 'Reset password' });
	await form.getByLabel('New password').fill('erin-new-password');
	await form.getByRole('button', { name: 'Set password' }).click();
	await toast('Password of erin@example.test changed').waitFor();
	const erin = await apiAs(env, 'erin@example.test', 'erin-new-password');
	await erin.close();
	await page.getByRole('button', { name: 'Delete user' }).click();
	await confirm('Delete user');
	await toast('User erin@example.test deleted').waitFor();
	assert.equal((await adm.get('/users/erin%40example.test')).status, 404);
	await waitFor(async () => (await page.locator('tr[data-user="erin@example.test"]').count()) === 0, { what: 'erin gone from the list' });
});

test('domains: remove with confirmation', async () => {
	assert.equal((await adm.post('/domains', { name: 'old.test', destination: 'smtp:127.0.0.1:25' })).status, 201);
	await page.goto(env.origin + '/#/domains');
	const row = page.locator('tr[data-domain="old.test"]');
	await row.getByRole('button', { name: 'Remove old.test' }).click();
	await confirm('Cancel');
	assert.ok((await adm.get('/domains')).json.some((d) => d.name === 'old.test'));
	await row.getByRole('button', { name: 'Remove old.test' }).click();
	await confirm('Remove domain');
	await toast('Domain old.test removed').waitFor();
	assert.ok(!(await adm.get('/domains')).json.some((d) => d.name === 'old.test'));
});

test('queue, Bayes export / import / reset, backup export / import', async () => {
	await page.goto(env.origin + '/#/advanced/queue');
	await page.locator('.empty-row', { hasText: 'The queue is empty' }).waitFor();
	await page.getByRole('button', { name: 'Retry all now' }).click();
	await toast('Retrying').waitFor();
	// something learned, so that export / import / reset have data
	assert.equal((await adm.put('/config/quarantine_score', { value: -50 })).status, 200);
	assert.equal(await sendMail(env.smtp_port, 'a@spam.test', ['bob@example.test'],
		'Subject: cheap pills\n\ncheap pills online pharmacy discount offer buy now\n'), 250);
	const row = await waitFor(async () => (await adm.get('/log?sender=spam.test')).json.rows[0], { what: 'the log row' });
	assert.equal((await adm.post(`/log/${row.id}/classify`, { as: 'spam' })).status, 200);
	assert.equal((await adm.put('/config/quarantine_score', { value: 10 })).status, 200);
	await page.goto(env.origin + '/#/advanced/bayes');
	const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export', exact: true }).click()]);
	const bayesFile = path.join(tmp, 'bayes.jsonl');
	fs.copyFileSync(await dl.path(), bayesFile);
	await page.getByRole('button', { name: 'Reset Bayes' }).click();
	await confirm('Reset');
	await toast('Bayes database reset').waitFor();
	await page.getByLabel('Bayes data (JSON Lines)', { exact: true }).setInputFiles(bayesFile);
	await page.getByLabel(/Merge into/).check();
	await page.getByRole('button', { name: 'Import', exact: true }).click();
	await toast('Bayes imported').waitFor();
	// a backup of the whole configuration goes out and comes back in
	await page.goto(env.origin + '/#/advanced/backup');
	const [bk] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download backup' }).click()]);
	const backup = path.join(tmp, 'backup.json');
	fs.copyFileSync(await bk.path(), backup);
	assert.equal((await adm.post('/domains', { name: 'gone.test', destination: 'smtp:127.0.0.1:25' })).status, 201);
	await page.getByLabel('Configuration file (JSON)', { exact: true }).setInputFiles(backup);
	await page.getByRole('button', { name: 'Import configuration' }).click();
	await confirm('Replace');
	await toast('Configuration imported').waitFor();
	assert.ok(!(await adm.get('/domains')).json.some((d) => d.name === 'gone.test'), 'the import replaced the configuration');
	// a broken file is refused next to the input
	const bad = path.join(tmp, 'bad.json');
	fs.writeFileSync(bad, '{"version": 1, "keys": {"setting/tag_score": "lots"}}');
	await page.getByLabel('Configuration file (JSON)', { exact: true }).setInputFiles(bad);
	await page.getByRole('button', { name: 'Import configuration' }).click();
	await confirm('Replace');
	await page.locator('.field .error').filter({ hasText: /\S/ }).waitFor();
});

test('a mail user is sent from the admin pages to the user pages, and back', async () => {
	assert.equal((await adm.post('/users', { address: 'frank@example.test', password: 'frank-password-1' })).status, 201);
	const other = await openBrowser(env);
	try {
		const p = await other.newPage();
		await p.goto(env.origin + '/');
		await p.getByLabel('User name').fill('frank@example.test');
		await p.getByLabel('Password').fill('frank-password-1');
		await p.getByRole('button', { name: 'Log in' }).click();
		await p.getByRole('heading', { name: 'Not an administrator' }).waitFor();
		await p.getByRole('link', { name: 'Open my quarantine' }).click();
		await p.locator('.topbar .who', { hasText: 'frank@example.test' }).waitFor();
		// and the admin on the user pages is pointed to the administration
		await page.goto(env.origin + '/user/');
		await page.getByRole('heading', { name: 'Administrator session' }).waitFor();
		assert.deepEqual(other.foreign, []);
		assert.deepEqual(other.pageErrors, []);
	} finally {
		await other.done();
	}
});

test('an ended session brings back the login form', async () => {
	await page.goto(env.origin + '/#/domains');
	await page.locator('.page table').waitFor();
	await ctx.clearCookies();
	await page.getByRole('link', { name: 'Users' }).click();
	await page.locator('.notice', { hasText: 'Your session has ended' }).waitFor();
	await page.getByLabel('Password').fill(env.admin_password);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.locator('.mainnav a[aria-current="page"][href="#/users"]').waitFor();
	await waitFor(async () => (await page.locator('tr[data-user]').count()) > 0, { what: 'the users list' });
});

test('on a narrow screen the navigation collapses into a menu', async () => {
	await page.setViewportSize({ width: 390, height: 844 });
	try {
		await page.goto(env.origin + '/#/basic/status');
		const link = page.locator('.mainnav a[href="#/domains"]');
		await page.getByRole('button', { name: 'Menu' }).waitFor();
		assert.equal(await link.isVisible(), false);
		await page.getByRole('button', { name: 'Menu' }).click();
		assert.equal(await page.getByRole('button', { name: 'Menu' }).getAttribute('aria-expanded'), 'true');
		await link.click();
		await page.locator('.page table').first().waitFor();
		assert.equal(await link.isVisible(), false, 'the menu closes after navigating');
		// no horizontal scrolling of the page itself
		assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1));
	} finally {
		await page.setViewportSize({ width: 1280, height: 800 });
	}
});
