// ADVANCED → Clustering on a single node (the join of two nodes through
// the page is tests/cluster/test_join_web.py): the member list shows this
// node up and is polled only while the tab is shown; the Cluster Shared
// Secret is saved and shown as "set", never its value; the Cluster Host
// Name; the Local Host Map (bad address refused next to the input, add,
// remove); a join to an address where nothing listens shows the API's
// error and leaves the node alone; the conflicts panel; screenshots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { adminSession, endSession, shoot, sleep, waitFor } from './lib.mjs';

const SECRET = 'browser-test-secret-4711-zq';
let s, env, ctx, page, adm;

before(async () => {
	s = await adminSession();
	({ env, ctx, page, adm } = s);
});

after(() => endSession(s));

const toast = (text) => page.locator('.toast', { hasText: text });
const member = () => page.locator('[data-testid="cluster-member"]');
const statusPolls = () => ctx.requests.filter((u) => new URL(u).pathname === '/api/v1/cluster').length;

// A fresh rendering of the tab (from another tab when it is already shown).
async function openTab() {
	if (page.url().endsWith('#/advanced/cluster'))
		await page.goto(env.origin + '/#/advanced/protocol');
	await page.goto(env.origin + '/#/advanced/cluster');
	await member().first().waitFor();
}

// A loopback port where nothing listens (bound, then closed again).
async function deadPort() {
	const srv = net.createServer();
	await new Promise((r) => srv.listen(0, '127.0.0.1', r));
	const { port } = srv.address();
	await new Promise((r) => srv.close(r));
	return port;
}

test('the member list shows this node up, refreshed only while the tab is shown', async () => {
	await openTab();
	assert.equal(await member().count(), 1);
	assert.equal(await member().getAttribute('data-state'), 'up');
	assert.equal(await member().locator('.light.l-green').count(), 1, 'a green light');
	assert.match(await member().innerText(), /this node/i);
	assert.match(await member().innerText(), /active/i);
	const st = (await adm.get('/cluster')).json;
	assert.equal(st.clustered, false);
	// polled every few seconds while shown
	const first = statusPolls();
	await waitFor(() => statusPolls() >= first + 2, { timeout: 15000, what: 'two more polls of /cluster' });
	// another tab, then another page: no more polling
	await page.getByRole('link', { name: 'Backup' }).click();
	await page.getByRole('link', { name: 'Download backup' }).waitFor();
	const left = statusPolls();
	await sleep(4000);
	assert.equal(statusPolls(), left, 'polling stopped when the tab was left');
	await openTab();
	await page.getByRole('link', { name: 'Domains' }).click();
	await page.locator('.page table').first().waitFor();
	const gone = statusPolls();
	await sleep(4000);
	assert.equal(statusPolls(), gone, 'polling stopped when the page was left');
});

test('Cluster Shared Secret: too short refused, saved, shown as set, never shown', async () => {
	await openTab();
	const state = page.locator('[data-testid="secret-state"]');
	await state.getByText('not set').waitFor();
	const input = page.getByLabel('Cluster Shared Secret');
	assert.equal(await input.getAttribute('type'), 'password');
	await input.fill('short');
	await page.getByRole('button', { name: 'Save secret' }).click();
	const form = page.getByRole('form', { name: 'Set the shared secret' });
	await form.locator('.field .error').filter({ hasText: /\S/ }).waitFor();
	assert.equal(await input.getAttribute('aria-invalid'), 'true');
	assert.equal((await adm.get('/cluster')).json.secret_set, false);
	await input.fill(SECRET);
	await page.getByRole('button', { name: 'Save secret' }).click();
	await toast('Cluster Shared Secret saved').waitFor();
	await state.getByText('set', { exact: true }).waitFor();
	assert.equal(await input.inputValue(), '', 'the input is emptied after saving');
	assert.equal((await adm.get('/cluster')).json.secret_set, true);
	// nowhere on the page nor in the API, also after a reload
	await page.reload();
	await state.getByText('set', { exact: true }).waitFor();
	assert.equal(await page.getByLabel('Cluster Shared Secret').inputValue(), '');
	assert.ok(!(await page.content()).includes(SECRET), 'the secret is in the page');
	assert.ok(!JSON.stringify((await adm.get('/cluster')).json).includes(SECRET), 'the secret is in GET /cluster');
});

test('Cluster Host Name: set (shown as this node’s name), then cleared', async () => {
	await openTab();
	const input = page.getByLabel('Cluster Host Name');
	await input.fill('gw1.cluster.test');
	await page.getByRole('button', { name: 'Save host name' }).click();
	await toast('Cluster Host Name set to gw1.cluster.test').waitFor();
	await waitFor(async () => /gw1\.cluster\.test/.test(await member().innerText()), { what: 'the name in the member list' });
	assert.equal((await adm.get('/cluster')).json.hostname, 'gw1.cluster.test');
	await page.reload();
	assert.equal(await page.getByLabel('Cluster Host Name').inputValue(), 'gw1.cluster.test');
	await page.getByLabel('Cluster Host Name').fill('');
	await page.getByRole('button', { name: 'Save host name' }).click();
	await toast('Cluster Host Name cleared').waitFor();
	assert.equal((await adm.get('/cluster')).json.hostname, '');
});

test('a join to an address where nothing listens shows the error; the node stays single', async () => {
	await openTab();
	const form = page.getByRole('form', { name: 'Join a cluster' });
	const input = page.getByLabel('Cluster', { exact: true });
	// empty: refused before asking the server
	await page.getByRole('button', { name: 'Join Cluster' }).click();
	await form.locator('.field .error', { hasText: 'Enter the address' }).waitFor();
	const target = `127.0.0.1:${await deadPort()}`;
	await input.fill(target);
	await page.getByRole('button', { name: 'Join Cluster' }).click();
	const err = form.locator('.field .error').filter({ hasText: /\S/ });
	await err.waitFor({ timeout: 60000 });
	const text = await err.innerText();
	assert.ok(text.includes('127.0.0.1'), `the error names the target: ${text}`);
	assert.equal(await input.getAttribute('aria-invalid'), 'true');
	assert.ok(await err.isVisible());
	const st = (await adm.get('/cluster')).json;
	assert.equal(st.clustered, false);
	assert.equal(st.state, 'single');
	assert.equal(await member().count(), 1);
	assert.equal(await member().getAttribute('data-state'), 'up');
	assert.equal(await page.getByRole('button', { name: 'Leave cluster' }).isVisible(), false, 'no Leave for a single node');
	assert.equal(await member().getByRole('button', { name: /Remove/ }).count(), 0, 'no Remove for this node');
});

test('Local Host Map: a bad address refused next to the input, add, remove', async () => {
	await openTab();
	const form = page.getByRole('form', { name: 'Add a host map entry' });
	await form.getByLabel('Host name').fill('mx1.cluster.test');
	await form.getByLabel('Address').fill('300.1.2.3');
	await form.getByRole('button', { name: 'Add to host map' }).click();
	await form.locator('.field .error').filter({ hasText: /\S/ }).waitFor();
	assert.equal(await form.getByLabel('Address').getAttribute('aria-invalid'), 'true');
	assert.deepEqual((await adm.get('/cluster/hostmap')).json, []);
	await form.getByLabel('Address').fill('192.0.2.10');
	await form.getByRole('button', { name: 'Add to host map' }).click();
	await toast('Host map: mx1.cluster.test → 192.0.2.10').waitFor();
	const row = page.locator('tr[data-host="mx1.cluster.test"]');
	await row.getByText('192.0.2.10').waitFor();
	assert.deepEqual((await adm.get('/cluster/hostmap')).json, [{ name: 'mx1.cluster.test', address: '192.0.2.10' }]);
	// a second one, then remove the first (cancel keeps it)
	await form.getByLabel('Host name').fill('mx2.cluster.test');
	await form.getByLabel('Address').fill('2001:db8::25');
	await form.getByRole('button', { name: 'Add to host map' }).click();
	await page.locator('tr[data-host="mx2.cluster.test"]').waitFor();
	await row.getByRole('button', { name: 'Remove mx1.cluster.test from the host map' }).click();
	await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
	assert.equal((await adm.get('/cluster/hostmap')).json.length, 2);
	await row.getByRole('button', { name: 'Remove mx1.cluster.test from the host map' }).click();
	await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
	await toast('mx1.cluster.test removed from the Local Host Map').waitFor();
	await waitFor(async () => (await row.count()) === 0, { what: 'the row gone' });
	assert.deepEqual((await adm.get('/cluster/hostmap')).json.map((e) => e.name), ['mx2.cluster.test']);
});

test('the conflicts panel lists what `cluster conflicts` lists (nothing on a single node)', async () => {
	await openTab();
	const conflicts = (await adm.get('/cluster/conflicts')).json;
	assert.equal(conflicts.total, 0);
	const panel = page.locator('section.card', { has: page.getByRole('heading', { name: 'Conflicts' }) });
	await panel.locator('.empty-row', { hasText: 'No conflict' }).waitFor();
	assert.equal(await panel.locator('[data-testid="cluster-conflict"]').count(), 0);
	await page.evaluate(() => window.scrollTo(0, 0));
	await shoot(page, 'admin-cluster');
});
