// The administrator in a real Chromium against a real rampartd: logs in,
// changes the spam thresholds (with an inline error from the API first),
// adds a domain and a block rule, finds the message the rule caught in the
// message log, opens it and classifies it as spam; also users, Bayes and
// backup. Screenshots of the admin pages go to docs/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { adminSession, endSession, sendMail, cli, shoot, waitFor, waitSink, mailText } from './lib.mjs';

let s, env, ctx, page, adm;

before(async () => {
	s = await adminSession({ login: false }); // the first test logs in through the form
	({ env, ctx, page, adm } = s);
	// some traffic for the dashboard
	for (let i = 0; i < 3; i++) {
		const code = await sendMail(env.smtp_port, `news${i}@partner.test`, ['bob@example.test'],
			`From: news${i}@partner.test\nTo: bob@example.test\nSubject: Newsletter ${i}\n\nHello Bob, issue ${i}.\n`);
		assert.equal(code, 250);
	}
});

after(() => endSession(s));

const toast = (text) => page.locator('.toast', { hasText: text });

test('admin logs in (a wrong password is refused inline)', async () => {
	await page.goto(env.origin + '/');
	await page.getByLabel('Password').fill('not-the-password');
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.locator('.form-error', { hasText: 'wrong username or password' }).waitFor();
	await page.getByLabel('Password').fill(env.admin_password);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.locator('.topbar .who', { hasText: 'admin' }).waitFor();
	await page.locator('.tile', { hasText: 'Received' }).waitFor();
	assert.match(await page.locator('.tile', { hasText: 'Received' }).innerText(), /\b3\b/);
	assert.equal(await page.locator('svg.chart').count(), 2);
	// the hourly chart has bars for this hour's mail
	assert.ok(await page.locator('svg.chart rect.bar-allow').count() >= 1);
	await shoot(page, 'admin-basic');
});

test('admin changes the spam thresholds', async () => {
	await page.goto(env.origin + '/#/basic/scoring');
	const tag = page.getByLabel('Tag score');
	await tag.fill('500');
	await page.getByRole('button', { name: 'Save' }).click();
	// the API's message appears next to the field
	const err = page.locator('.field', { has: page.locator('input[name="tag_score"]') }).locator('.error');
	await err.filter({ hasText: 'between -100 and 100' }).waitFor();
	assert.equal(await tag.getAttribute('aria-invalid'), 'true');
	await tag.fill('4.5');
	await page.getByLabel('Quarantine score').fill('7');
	await page.getByLabel('Block score').fill('12');
	await page.getByRole('button', { name: 'Save' }).click();
	await toast('saved').waitFor();
	assert.equal((await cli(env, 'config', 'get', 'tag_score')).value, 4.5);
	assert.equal((await cli(env, 'config', 'get', 'quarantine_score')).value, 7);
	assert.equal((await cli(env, 'config', 'get', 'block_score')).value, 12);
	await page.reload();
	await page.getByLabel('Quarantine score').waitFor();
	assert.equal(await page.getByLabel('Quarantine score').inputValue(), '7');
	await shoot(page, 'admin-scoring');
});

test('admin adds a domain with its own threshold', async () => {
	await page.goto(env.origin + '/#/domains');
	const form = page.getByRole('form', { name: 'Add a domain' });
	await form.getByLabel('Domain').fill('bad domain');
	await form.getByLabel(/Destination server/).fill(`127.0.0.1:${env.sink_port}`);
	await form.getByRole('button', { name: 'Add domain' }).click();
	await form.locator('.field', { has: page.locator('input[name="name"]') }).locator('.error', { hasText: 'only letters' }).waitFor();
	await form.getByLabel('Domain').fill('corp.test');
	await form.getByRole('button', { name: 'Add domain' }).click();
	await toast('Domain corp.test added').waitFor();
	const row = page.locator('tr[data-domain="corp.test"]');
	await row.waitFor();
	assert.match(await row.innerText(), new RegExp(`smtp:127\\.0\\.0\\.1:${env.sink_port}`));
	const doms = await cli(env, 'domain', 'list');
	assert.ok(doms.some((d) => d.name === 'corp.test' && d.destination === `smtp:127.0.0.1:${env.sink_port}`), JSON.stringify(doms));
	// per-domain quarantine threshold
	await row.getByRole('link', { name: 'Settings' }).click();
	const card = page.locator('section.card', { hasText: 'Spam thresholds for corp.test' });
	await card.getByLabel('Quarantine score').fill('6');
	await card.getByRole('button', { name: 'Save' }).click();
	await toast('Spam thresholds for corp.test: saved').waitFor();
	const st = await cli(env, 'config', 'get', 'quarantine_score', '--scope', 'domain:corp.test');
	assert.equal(st.value, 6);
	assert.equal(st.set, true);
	// mail for the new domain is accepted and delivered to its server
	assert.equal(await sendMail(env.smtp_port, 'hello@partner.test', ['ceo@corp.test'], 'Subject: for corp\n\nhi\n'), 250);
	await waitSink(env, (m) => m.includes('X-Rcpt-Args: <ceo@corp.test>'), 'mail for corp.test');
	await page.locator('#domain-panel').waitFor();
	await page.evaluate(() => window.scrollTo(0, 0));
	await shoot(page, 'admin-domains');
});

test('admin adds a block rule', async () => {
	await page.goto(env.origin + '/#/lists/sender');
	const card = page.locator('section[data-list="sender_block"]');
	await card.getByLabel('Entry').fill('bad@@entry');
	await card.getByRole('button', { name: 'Add' }).click();
	await card.locator('.field .error').filter({ hasText: /\S/ }).first().waitFor();
	assert.equal(await card.getByLabel('Entry').getAttribute('aria-invalid'), 'true');
	await card.getByLabel('Entry').fill('spammer.test');
	await card.getByLabel('Action').selectOption('quarantine');
	await card.getByLabel('Comment').fill('caught in the browser test');
	await card.getByRole('button', { name: 'Add' }).click();
	await card.locator('tr', { hasText: 'spammer.test' }).waitFor();
	const r = await adm.get('/lists/sender_block');
	assert.deepEqual(r.json.rows.map((x) => [x.entry, x.action, x.comment]), [['spammer.test', 'quarantine', 'caught in the browser test']]);
	// one allowed sender too, for the screenshot
	const allow = page.locator('section[data-list="sender_allow"]');
	await allow.getByLabel('Entry').fill('partner.test');
	await allow.getByRole('button', { name: 'Add' }).click();
	await allow.locator('tr', { hasText: 'partner.test' }).waitFor();
	await shoot(page, 'admin-block-accept');
});

test('admin finds the caught message in the log and classifies it as spam', async () => {
	const code = await sendMail(env.smtp_port, 'offers@spammer.test', ['bob@example.test'],
		'From: "Best Offers" <offers@spammer.test>\nTo: bob@example.test\nSubject: Cheap watches <today>\n\n' +
		'Dear customer, genuine replica watches at 90% off. Reply now!\n' +
		'Our luxury collection ships worldwide within three days, discreet packaging guaranteed.\n' +
		'Order two watches and receive a third one free of charge, this week only, while stocks last.\n');
	assert.equal(code, 250, 'SMTP reply to the spam message');
	await page.goto(env.origin + '/#/log');
	const search = page.getByRole('search', { name: 'Search the message log' });
	await search.getByLabel('Sender').fill('spammer');
	await search.getByRole('button', { name: 'Search' }).click();
	const row = page.locator('tbody tr', { hasText: 'Cheap watches <today>' });
	// the unfiltered list shown when the page opens may already hold the
	// message: wait for the search's own result, that one row alone
	await waitFor(async () => {
		if (await row.count() && await page.locator('tbody tr').count() === 1)
			return true;
		await search.getByRole('button', { name: 'Search' }).click();
		return false;
	}, { what: 'the message alone in the searched log', interval: 500 });
	assert.match(await row.innerText(), /quarantine/i);
	await row.getByRole('button', { name: 'Cheap watches <today>' }).click();
	const detail = page.locator('[data-testid="log-detail"]');
	await detail.waitFor();
	// the subject is text, not markup
	assert.equal(await detail.locator('h2').innerText(), 'Cheap watches <today>');
	await detail.locator('[data-testid="message-text"]', { hasText: 'replica watches' }).waitFor();
	await detail.getByRole('tab', { name: 'Source' }).click();
	await detail.locator('[data-testid="message-source"]', { hasText: 'From: "Best Offers" <offers@spammer.test>' }).waitFor();
	await detail.getByRole('tab', { name: 'Text' }).click();
	await detail.getByRole('button', { name: 'Spam', exact: true }).click();
	await toast('Learned as spam').waitFor();
	const bayes = await adm.get('/bayes');
	assert.equal(bayes.json.nspam, 1);
	const fp = await adm.get('/fingerprints');
	assert.equal(fp.json.total, 1, 'a spam verdict of the admin makes a fingerprint');
	await detail.getByRole('button', { name: 'Spam', exact: true }).click();
	await toast('Already learned as spam').waitFor();
	// the whole log beside the open detail
	await search.getByLabel('Sender').fill('');
	await search.getByRole('button', { name: 'Search' }).click();
	await waitFor(async () => (await page.locator('tbody tr').count()) >= 5, { what: 'all log rows' });
	await shoot(page, 'admin-log');
});

test('admin manages users', async () => {
	await page.goto(env.origin + '/#/users');
	await page.getByRole('button', { name: 'Add user' }).click();
	const form = page.getByRole('form', { name: 'Add a user' });
	await form.getByLabel('Email address', { exact: true }).fill('dave@example.test');
	await form.getByLabel('Password', { exact: true }).fill('short');
	await form.getByLabel('Mail a set-password link').uncheck();
	await form.getByRole('button', { name: 'Add user' }).click();
	await form.locator('.field', { has: page.locator('input[name="password"]') }).locator('.error').filter({ hasText: /\S/ }).waitFor();
	await form.getByLabel('Password', { exact: true }).fill('dave-password-1');
	await form.getByRole('button', { name: 'Add user' }).click();
	await toast('User dave@example.test added').waitFor();
	await page.locator('tr[data-user="dave@example.test"]').getByRole('link', { name: 'Edit' }).click();
	const sw = page.getByRole('form', { name: 'Feature switches' });
	await sw.getByLabel('Self-service settings').uncheck();
	await sw.getByRole('button', { name: 'Save switches' }).click();
	await toast('Feature switches saved').waitFor();
	const u = await adm.get('/users/dave%40example.test');
	assert.deepEqual(u.json.features, { quarantine: true, scanning: true, settings: false });
	// the filter finds him by that switch
	await page.getByLabel('Feature', { exact: true }).selectOption('settings_off');
	await page.locator('tbody tr[data-user]').first().waitFor();
	await waitFor(async () => (await page.locator('tbody tr[data-user]').count()) === 1, { what: 'the filtered list' });
	await page.evaluate(() => window.scrollTo(0, 0));
	await shoot(page, 'admin-users');
	// delete with confirmation: cancel keeps him
	await page.getByRole('button', { name: 'Delete user' }).click();
	await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
	assert.equal((await adm.get('/users/dave%40example.test')).status, 200);
});

test('admin sees Bayes, exports a backup, and the clustering page has its place', async () => {
	await page.goto(env.origin + '/#/advanced/bayes');
	const counts = page.locator('section.card', { hasText: 'Bayes classifier' });
	await counts.locator('dd', { hasText: /^1$/ }).first().waitFor();
	await page.getByRole('button', { name: 'Reload rules' }).click();
	await page.locator('.notice', { hasText: 'Rules reloaded' }).waitFor();
	await shoot(page, 'admin-advanced');
	await page.goto(env.origin + '/#/advanced/backup');
	const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download backup' }).click()]);
	const file = await dl.path();
	const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
	assert.equal(doc.version, 1);
	assert.ok(Object.keys(doc.keys).some((k) => k.includes('corp.test')), 'the new domain is in the backup');
	await page.goto(env.origin + '/#/advanced/cluster');
	await page.locator('[data-testid="cluster-member"][data-state="up"]').waitFor();
	await page.goto(env.origin + '/#/advanced/protocol');
	await page.getByLabel('Maximum message size').fill('20M');
	await page.getByRole('button', { name: 'Save' }).first().click();
	await toast('SMTP server: saved').waitFor();
	assert.equal((await cli(env, 'config', 'get', 'smtp_max_message_size')).value, 20 * 1024 * 1024);
});

test('the allowed newsletters reached the destination server', async () => {
	const msgs = mailText((await waitSink(env, (m) => m.includes('Newsletter 0'))));
	assert.match(msgs, /Hello Bob, issue 0/);
});
