// A mail user in a real Chromium: sets a password through the link mailed
// to them, logs in through the link of their quarantine summary mail,
// opens a hostile HTML message (scripts, remote images, event handlers,
// refresh, forms ...) that must stay inert — no script runs, no request
// leaves — delivers it, and it arrives at the destination server. A second
// user cannot reach that message. Screenshots of the user pages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEnv, openBrowser, sendMail, cli, apiAs, shoot, waitFor, waitSink, sinkMessages, mailText } from './lib.mjs';

const CAROL = 'carol@example.test';
const DAVE = 'dave@example.test';
const SUBJECT = 'You won! <b>Claim</b> your prize';

// Every way a message could try to run code or fetch something. Anything
// named "marker" that shows up in the request log is a failure.
const HOSTILE = `From: "Prize Department" <winner@lottery.test>
To: ${CAROL}
Subject: ${SUBJECT}
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="sep"

--sep
Content-Type: text/plain; charset=utf-8

Dear winner, <script>alert("text")</script> claim your prize now.
--sep
Content-Type: text/html; charset=utf-8

<!DOCTYPE html>
<html><head>
<base href="https://remote.example/marker-base/">
<meta http-equiv="refresh" content="0;url=https://remote.example/marker-refresh">
<link rel="stylesheet" href="https://remote.example/marker-css.css">
<style>@import url("https://remote.example/marker-import.css"); body { background: url(https://remote.example/marker-bg.png); }</style>
<script src="https://remote.example/marker-script.js"></script>
</head>
<body onload="fetch('/marker-onload')">
<h1 id="headline">Congratulations, you won</h1>
<p style="background-image: url('https://remote.example/marker-inline-bg.png')">Click <a href="https://remote.example/marker-link">here</a> or <a href="javascript:fetch('/marker-js-link')">here</a>.</p>
<script>fetch('/marker-inline-script'); alert('script ran'); top.document.title = 'pwned';</script>
<img src="https://remote.example/marker-img.png" alt="remote">
<img src="x" onerror="fetch('/marker-onerror')">
<img srcset="https://remote.example/marker-srcset.png 2x">
<iframe src="https://remote.example/marker-iframe"></iframe>
<object data="https://remote.example/marker-object"></object>
<embed src="https://remote.example/marker-embed">
<video poster="https://remote.example/marker-poster.png"><source src="https://remote.example/marker-video.mp4"></video>
<svg><script>fetch('/marker-svg-script')</script><image href="https://remote.example/marker-svg-image.png"/></svg>
<form action="https://remote.example/marker-form"><input name="q" value="x"><button id="go">Go</button></form>
</body></html>
--sep--
`;

let env, adm;
const browsers = [];

async function browser(opts) {
	const ctx = await openBrowser(env, opts);
	browsers.push(ctx);
	const page = await ctx.newPage();
	return { ctx, page };
}

async function loginUser(page, addr, password) {
	await page.getByLabel('Email address', { exact: true }).fill(addr);
	await page.getByLabel('Password', { exact: true }).fill(password);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.locator('.topbar .who', { hasText: addr }).waitFor();
}

before(async () => {
	env = await startEnv();
	adm = await apiAs(env, 'admin', env.admin_password);
	await cli(env, 'config', 'set', 'quarantine_score', '-50'); // everything is held back
	const r = await adm.post('/users', { address: DAVE, password: 'dave-password-1' });
	assert.equal(r.status, 201, JSON.stringify(r.json));
});

after(async () => {
	for (const ctx of browsers) {
		assert.deepEqual(ctx.foreign, [], 'requests that left for somewhere else than the node');
		assert.deepEqual(ctx.requests.filter((u) => u.includes('marker')), [], 'requests made by the hostile message');
		assert.deepEqual(ctx.dialogs, [], 'dialogs opened by scripts');
		assert.deepEqual(ctx.pageErrors, [], 'JavaScript errors in the pages');
		await ctx.done();
	}
	if (adm)
		await adm.close();
	if (env)
		await env.stop();
});

let carolPassword = 'carol-password-1';
let messageId;

test('a hostile HTML message is quarantined for carol, who gets a link to set her password', async () => {
	assert.equal(await sendMail(env.smtp_port, 'winner@lottery.test', [CAROL], HOSTILE), 250);
	const q = await waitFor(async () => {
		const r = await adm.get('/quarantine?user=' + encodeURIComponent(CAROL));
		return r.json.total === 1 && r.json;
	}, { what: 'the message in carol\'s quarantine' });
	messageId = q.rows[0].id;
	// The account is made on the first quarantined message (welcome mail);
	// where that hook is not there, the admin makes it with a mailed link.
	await new Promise((r) => setTimeout(r, 1500));
	if ((await adm.get('/users/' + encodeURIComponent(CAROL))).status === 404) {
		const r = await adm.post('/users', { address: CAROL, send_link: true });
		assert.equal(r.status, 201, JSON.stringify(r.json));
	}
	const mail = mailText(await waitSink(env, (m) => m.includes(`X-Rcpt-Args: <${CAROL}>`) && mailText(m).includes('/user/?setpw='), 'the set-password mail'));
	const link = mail.match(/https:\/\/\S+\/user\/\?setpw=[A-Za-z0-9_.-]+/)[0];
	assert.ok(link.startsWith(env.origin + '/user/'), link);
	const { page } = await browser();
	await page.goto(link);
	await page.getByRole('heading', { name: 'Choose your password' }).waitFor();
	await page.getByLabel('New password').fill(carolPassword);
	await page.getByLabel('Repeat the password').fill('something-else');
	await page.getByRole('button', { name: 'Set password and log in' }).click();
	await page.locator('.error', { hasText: 'The two passwords differ' }).waitFor();
	await page.getByLabel('Repeat the password').fill(carolPassword);
	await page.getByRole('button', { name: 'Set password and log in' }).click();
	await page.locator('.topbar .who', { hasText: CAROL }).waitFor();
	assert.ok(!page.url().includes('setpw'), 'the token is taken out of the address bar: ' + page.url());
	await page.getByRole('button', { name: 'Log out' }).click();
	await page.getByRole('button', { name: 'Log in' }).waitFor();
	// the link works once
	await page.goto(link);
	await page.getByLabel('New password').fill('another-password-2');
	await page.getByLabel('Repeat the password').fill('another-password-2');
	await page.getByRole('button', { name: 'Set password and log in' }).click();
	await page.locator('.notice', { hasText: 'expired or was already used' }).waitFor();
});

let carol;

test('carol logs in through the link of her summary mail and sees the message', async () => {
	const r = await adm.post('/quarantine/summaries', { user: CAROL, force: true });
	assert.deepEqual(r.json.sent, [CAROL]);
	const mail = mailText(await waitSink(env, (m) => m.includes(`X-Rcpt-Args: <${CAROL}>`) && /Subject: Quarantine summary/.test(m), 'the summary mail'));
	assert.ok(mail.includes(SUBJECT), 'the summary names the message');
	const link = mail.match(/Your quarantine: (https:\/\/\S+\/user\/)/)[1];
	assert.equal(link, env.origin + '/user/');
	// a few more held-back messages, so that the inbox looks like one
	for (const [from, subject] of [['deals@shop.test', 'Weekly deals: 70% off everything'],
		['security@bank-login.test', 'Your account has been suspended'], ['billing@invoices.test', 'Invoice #4411 overdue']]) {
		assert.equal(await sendMail(env.smtp_port, from, [CAROL], `From: ${from}\nTo: ${CAROL}\nSubject: ${subject}\n\n${subject}. Act now.\n`), 250);
	}
	await waitFor(async () => (await adm.get('/quarantine?user=' + encodeURIComponent(CAROL))).json.total === 4, { what: 'four held back' });
	carol = await browser();
	const { page } = carol;
	await page.goto(link);
	await loginUser(page, CAROL, carolPassword);
	const row = page.locator(`tr[data-id="${messageId}"]`);
	await row.waitFor();
	// the subject is shown as text: the <b> is literal
	assert.equal(await row.getByRole('link').innerText(), SUBJECT);
	assert.equal(await page.locator('tbody b').count(), 0);
	await shoot(page, 'user-quarantine');
});

test('the hostile message stays inert when carol opens it', async () => {
	const { page, ctx } = carol;
	const before = ctx.requests.length;
	await page.locator(`tr[data-id="${messageId}"]`).getByRole('link').click();
	await page.getByRole('heading', { name: SUBJECT }).waitFor();
	const frame = page.locator('iframe.msg-html');
	await frame.waitFor();
	assert.equal(await frame.getAttribute('sandbox'), 'allow-popups allow-popups-to-escape-sandbox');
	assert.equal(await frame.getAttribute('src'), `/api/v1/me/quarantine/${messageId}/html`);
	// the sanitised HTML is shown inside the frame
	const inner = page.frameLocator('iframe.msg-html');
	await inner.locator('#headline, h1').first().waitFor();
	assert.match(await inner.locator('h1').first().innerText(), /Congratulations, you won/);
	assert.equal(await inner.locator('script, iframe, object, embed, form, link, meta[http-equiv], base').count(), 0);
	// the frame's document is opaque to the UI (no allow-same-origin) and
	// runs no script (no allow-scripts)
	const f = page.frames().find((x) => x.url().endsWith(`/me/quarantine/${messageId}/html`));
	assert.ok(f, 'the preview frame');
	assert.equal(await page.evaluate(() => {
		try {
			return document.querySelector('iframe.msg-html').contentDocument === null;
		} catch {
			return true;
		}
	}), true);
	// give anything that could fire (refresh, onload, onerror) time to do so
	await page.waitForTimeout(2500);
	assert.equal(await page.title(), SUBJECT + ' — rampart');
	assert.deepEqual(ctx.dialogs, []);
	const made = ctx.requests.slice(before);
	assert.deepEqual(made.filter((u) => !u.startsWith(env.origin + '/')), []);
	assert.deepEqual(made.filter((u) => u.includes('marker')), []);
	// text view: the text part, markup shown as text
	await page.getByRole('tab', { name: 'Text' }).click();
	const text = page.locator('[data-testid="message-text"]');
	await text.waitFor();
	assert.match(await text.innerText(), /<script>alert\("text"\)<\/script> claim your prize/);
	assert.equal(await page.locator('.page script').count(), 0);
	// source view: the raw message as text
	await page.getByRole('tab', { name: 'Source' }).click();
	await page.locator('[data-testid="message-source"]', { hasText: 'onerror="fetch(' }).waitFor();
	await page.getByRole('tab', { name: 'HTML preview' }).click();
	await inner.locator('h1').first().waitFor();
	await shoot(page, 'user-message');
	assert.deepEqual(ctx.requests.filter((u) => u.includes('marker')), []);
	assert.deepEqual(ctx.foreign, []);
});

test('a second user cannot reach carol\'s message', async () => {
	const { page } = await browser();
	await page.goto(env.origin + '/user/');
	// the forgotten-password form answers the same for everyone
	await page.getByRole('button', { name: 'Forgot your password?' }).click();
	await page.getByLabel('Your email address').fill('nobody@example.test');
	await page.getByRole('button', { name: 'Mail me a link' }).click();
	await page.locator('.notice', { hasText: 'If this address has an account' }).waitFor();
	await loginUser(page, DAVE, 'dave-password-1');
	await page.locator('.empty-row', { hasText: 'Your quarantine is empty' }).waitFor();
	await page.goto(env.origin + `/user/#/message/${messageId}`);
	await page.locator('[data-testid="message-missing"]').waitFor();
	const codes = await page.evaluate(async (id) => {
		const out = {};
		for (const p of [`/api/v1/me/quarantine/${id}`, `/api/v1/me/quarantine/${id}/html`, `/api/v1/me/quarantine/${id}/source`, `/api/v1/quarantine/${id}`])
			out[p] = (await fetch(p)).status;
		return out;
	}, messageId);
	assert.deepEqual(Object.values(codes), [404, 404, 404, 403], JSON.stringify(codes));
	// nor act on it
	const del = await page.evaluate(async (id) => {
		const s = await (await fetch('/api/v1/session')).json();
		const r = await fetch(`/api/v1/me/quarantine/${id}/deliver`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf_token }, body: '{}' });
		return r.status;
	}, messageId);
	assert.equal(del, 404);
	assert.equal((await adm.get('/quarantine?user=' + encodeURIComponent(CAROL))).json.total, 4);
});

test('carol delivers the message and it arrives at the destination server', async () => {
	const { page } = carol;
	const already = sinkMessages(env).filter((m) => m.includes('Congratulations, you won')).length;
	assert.equal(already, 0);
	await page.getByRole('button', { name: 'Deliver', exact: true }).click();
	await page.locator('.toast', { hasText: 'delivered to your mailbox' }).waitFor();
	await page.locator('tr[data-id]').first().waitFor();
	assert.equal(await page.locator(`tr[data-id="${messageId}"]`).count(), 0);
	assert.equal(await page.locator('tr[data-id]').count(), 3);
	const got = await waitSink(env, (m) => m.includes('Congratulations, you won'), 'the delivered message');
	assert.match(got, new RegExp(`X-Rcpt-Args: <${CAROL}>`));
	assert.match(got, /X-Mail-Args: <winner@lottery\.test>/);
	assert.ok(got.includes(`Subject: ${SUBJECT}`));
	assert.equal((await adm.get('/quarantine?user=' + encodeURIComponent(CAROL))).json.total, 3);
});

test('carol edits her preferences', async () => {
	const { page } = carol;
	await page.getByRole('link', { name: 'Preferences' }).click();
	const form = page.getByRole('form', { name: 'Quarantine and spam scores' });
	await form.getByLabel('Summary mail of new quarantined messages').selectOption('weekly');
	await form.getByLabel('Use my own scores').check();
	await form.getByLabel('Quarantine from score').fill('250');
	await form.getByRole('button', { name: 'Save preferences' }).click();
	await form.locator('.error').filter({ hasText: /-100|100/ }).first().waitFor();
	await form.getByLabel('Quarantine from score').fill('5');
	await form.getByRole('button', { name: 'Save preferences' }).click();
	await page.locator('.toast', { hasText: 'Preferences saved' }).waitFor();
	const s = (await adm.get('/users/' + encodeURIComponent(CAROL) + '/settings')).json;
	const by = Object.fromEntries(s.settings.map((x) => [x.name, x]));
	assert.equal(by.quarantine_summary.value, 'weekly');
	assert.equal(by.quarantine_score.value, 5);
	assert.equal(by.quarantine_score.set, true);
	const wl = page.locator('section[data-list="whitelist"]');
	await wl.getByLabel('Always accept mail from').fill('not an address!');
	await wl.getByRole('button', { name: 'Add' }).click();
	await wl.locator('.field .error').filter({ hasText: /\S/ }).waitFor();
	await wl.getByLabel('Always accept mail from').fill('friends.example');
	await wl.getByRole('button', { name: 'Add' }).click();
	await wl.locator('td', { hasText: 'friends.example' }).waitFor();
	const lists = (await adm.get('/users/' + encodeURIComponent(CAROL) + '/lists')).json;
	assert.deepEqual(lists.whitelist.map((e) => e.entry), ['friends.example']);
	await page.evaluate(() => window.scrollTo(0, 0));
	await shoot(page, 'user-preferences');
});
