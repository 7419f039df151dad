// Helpers for the browser tests: a rampartd + destination server per test
// file (harness.py), Debian's Chromium through playwright-core with every
// request recorded (anything not for the node under test is refused and
// fails the test), an SMTP client, the CLI, screenshots.
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE = path.resolve(HERE, '..', '..');
export const SHOTS = path.join(SOURCE, 'docs', 'screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(fn, { timeout = 30000, interval = 200, what = 'condition' } = {}) {
	const end = Date.now() + timeout;
	let last;
	for (;;) {
		try {
			const v = await fn();
			if (v)
				return v;
		} catch (e) {
			last = e;
		}
		if (Date.now() > end)
			throw new Error(`timed out waiting for ${what}` + (last ? `: ${last.message}` : ''));
		await sleep(interval);
	}
}

// ---- the node under test -----------------------------------------------------

export async function startEnv() {
	const proc = spawn('/usr/bin/python3', [path.join(HERE, 'harness.py')], {
		stdio: ['pipe', 'pipe', 'inherit'], env: process.env,
	});
	let out = '';
	proc.stdout.setEncoding('utf8');
	const info = await new Promise((resolve, reject) => {
		proc.stdout.on('data', (d) => {
			out += d;
			const nl = out.indexOf('\n');
			if (nl >= 0)
				resolve(JSON.parse(out.slice(0, nl)));
		});
		proc.on('exit', (code) => reject(new Error(`harness exited (${code}) before the node was up`)));
	});
	const env = { ...info, proc };
	env.origin = new URL(info.url).origin;
	env.stop = async () => {
		proc.stdin.end();
		const [code] = proc.exitCode !== null ? [proc.exitCode] : await once(proc, 'exit');
		if (code !== 0)
			throw new Error(`the node or the harness failed (exit ${code}); see stderr`);
	};
	// mailed links must point at the address the browser reaches
	await cli(env, 'config', 'set', 'web_base_url', env.origin);
	return env;
}

export function cli(env, ...args) {
	return new Promise((resolve, reject) => {
		execFile(env.cli, ['-c', env.conf, '--json', ...args], { timeout: 60000 }, (err, stdout, stderr) => {
			if (err)
				return reject(new Error(`rampart ${args.join(' ')}: ${stderr || err.message}`));
			try {
				resolve(stdout.trim() ? JSON.parse(stdout) : null);
			} catch {
				resolve(stdout);
			}
		});
	});
}

// ---- SMTP ------------------------------------------------------------------------

// Sends one message; resolves with the reply to the message data (250,
// 554, ...) or the first failing reply before it.
export function sendMail(port, from, rcpts, data) {
	const lines = data.replace(/\r?\n/g, '\r\n').split('\r\n').map((l) => (l.startsWith('.') ? '.' + l : l));
	const body = lines.join('\r\n').replace(/(\r\n)*$/, '') + '\r\n.';
	const cmds = ['EHLO client.test', `MAIL FROM:<${from}>`, ...rcpts.map((r) => `RCPT TO:<${r}>`), 'DATA', body, 'QUIT'];
	const quit = cmds.length - 1, dataAt = cmds.length - 2;
	return new Promise((resolve, reject) => {
		const sock = net.connect(port, '127.0.0.1');
		let buf = '', i = -1, result = null;
		const next = (n) => {
			i = n;
			sock.write(cmds[i] + '\r\n');
		};
		sock.setEncoding('utf8');
		sock.setTimeout(30000, () => sock.destroy(new Error('SMTP timeout')));
		sock.on('data', (d) => {
			buf += d;
			let m;
			while ((m = buf.match(/^(\d{3})([ -])(.*)\r\n/))) {
				buf = buf.slice(m[0].length);
				if (m[2] === '-')
					continue;
				const code = Number(m[1]);
				if (i === dataAt)
					result = code;
				if (i === quit)
					return sock.end();
				if (code >= 400 && i !== dataAt && !(i >= 0 && cmds[i].startsWith('RCPT'))) {
					result = code;
					return next(quit);
				}
				next(i + 1);
			}
		});
		sock.on('error', reject);
		sock.on('close', () => resolve(result));
	});
}

// Every message smtp-sink received, as text (envelope headers + message).
export function sinkMessages(env) {
	return fs.readdirSync(env.sink_dir).sort().map((f) => fs.readFileSync(path.join(env.sink_dir, f), 'utf8'));
}

export function waitSink(env, pred, what) {
	return waitFor(() => sinkMessages(env).find(pred), { what: what || 'a message at the destination server' });
}

// The readable text of a dumped message: the raw text plus every base64
// part decoded, with quoted-printable undone (enough to find links).
export function mailText(raw) {
	const parts = [raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, x) => String.fromCharCode(parseInt(x, 16)))];
	const rx = /Content-Transfer-Encoding:[ \t]*base64[ \t]*\r?\n(?:[^\r\n:]+:[^\r\n]*\r?\n)*\r?\n([A-Za-z0-9+/=\r\n]+)/gi;
	for (const m of raw.matchAll(rx))
		parts.push(Buffer.from(m[1].replace(/\s+/g, ''), 'base64').toString('utf8'));
	return parts.join('\n');
}

// ---- the JSON API outside the browser (setup steps) -----------------------------

export async function apiAs(env, username, password) {
	const { request } = await import('playwright-core');
	const ctx = await request.newContext({ baseURL: env.origin, ignoreHTTPSErrors: true });
	const r = await ctx.post('/api/v1/auth/login', { data: { username, password } });
	if (r.status() !== 200)
		throw new Error(`login ${username}: ${r.status()} ${await r.text()}`);
	const csrf = (await r.json()).csrf_token;
	const call = async (method, p, data) => {
		const res = await ctx.fetch('/api/v1' + p, { method, data, headers: { 'X-CSRF-Token': csrf } });
		const text = await res.text();
		return { status: res.status(), json: text ? JSON.parse(text) : null };
	};
	return {
		get: (p) => call('GET', p),
		post: (p, d) => call('POST', p, d || {}),
		put: (p, d) => call('PUT', p, d || {}),
		del: (p) => call('DELETE', p),
		close: () => ctx.dispose(),
	};
}

// ---- the browser ---------------------------------------------------------------

// A fresh Chromium profile; every request is recorded in ctx.requests and
// anything not addressed to the node under test is refused (ctx.foreign).
export async function openBrowser(env, { width = 1280, height = 800 } = {}) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rampart-chromium-'));
	const ctx = await chromium.launchPersistentContext(dir, {
		executablePath: CHROMIUM, headless: true, args: ARGS, ignoreHTTPSErrors: true,
		viewport: { width, height }, acceptDownloads: true, serviceWorkers: 'block',
	});
	// generous: ctest runs this beside every other test on a busy machine
	ctx.setDefaultTimeout(30000);
	ctx.requests = [];
	ctx.foreign = [];
	ctx.pageErrors = [];
	ctx.dialogs = [];
	await ctx.route('**/*', (route) => {
		const url = route.request().url();
		ctx.requests.push(url);
		if (url.startsWith(env.origin + '/'))
			return route.continue();
		ctx.foreign.push(url);
		return route.abort('blockedbyclient');
	});
	ctx.on('page', (p) => watchPage(ctx, p));
	for (const p of ctx.pages())
		watchPage(ctx, p);
	ctx.done = async () => {
		await ctx.close();
		fs.rmSync(dir, { recursive: true, force: true });
	};
	return ctx;
}

function watchPage(ctx, p) {
	p.on('pageerror', (e) => ctx.pageErrors.push(e.message));
	p.on('dialog', (d) => {
		ctx.dialogs.push(d.message());
		d.dismiss().catch(() => {});
	});
	p.on('console', (m) => {
		if (m.type() === 'error' && !/status of 4\d\d|Failed to load resource/.test(m.text()))
			ctx.pageErrors.push('console: ' + m.text());
	});
}

// One rampartd, one Chromium and an admin API client: {env, ctx, page, adm};
// with login, the page is logged in as the administrator.
export async function adminSession({ login = true } = {}) {
	const env = await startEnv();
	const ctx = await openBrowser(env);
	const page = await ctx.newPage();
	const adm = await apiAs(env, 'admin', env.admin_password);
	if (login) {
		await page.goto(env.origin + '/');
		await page.getByLabel('Password').fill(env.admin_password);
		await page.getByRole('button', { name: 'Log in' }).click();
		await page.locator('.topbar .who').waitFor();
	}
	return { env, ctx, page, adm };
}

// The end of a session: nothing left for another origin, no page errors.
export async function endSession(s) {
	if (!s)
		return;
	if (s.ctx) {
		assert.deepEqual(s.ctx.foreign, [], 'requests that left for somewhere else than the node');
		assert.deepEqual(s.ctx.pageErrors, [], 'JavaScript errors in the pages');
		await s.ctx.done();
	}
	if (s.adm)
		await s.adm.close();
	if (s.env)
		await s.env.stop();
}

export async function newPage(ctx) {
	return ctx.pages()[0] && ctx.pages()[0].url() === 'about:blank' ? ctx.pages()[0] : ctx.newPage();
}

// Screenshots of the current page at 1280x800 and at 390x844 (narrow).
export async function shoot(page, name) {
	if (process.env.RAMPART_NO_SCREENSHOTS)
		return;
	fs.mkdirSync(SHOTS, { recursive: true });
	const size = page.viewportSize();
	await page.evaluate(() => document.getElementById('toasts')?.remove());
	await page.setViewportSize({ width: 1280, height: 800 });
	await sleep(150);
	await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
	await page.setViewportSize({ width: 390, height: 844 });
	await sleep(150);
	await page.screenshot({ path: path.join(SHOTS, `${name}-narrow.png`) });
	await page.setViewportSize(size);
	await sleep(100);
}
