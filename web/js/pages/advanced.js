// ADVANCED: email protocol settings, rate control, scanning layers, the
// delivery queue, Bayes (counts, reset, export/import) and rules reload,
// backup of the whole configuration, API tokens, and the Clustering page.
import { api } from '../api.js';
import { h, mount, fmtTime, fmtSize, fmtNum, badge, toast, confirmDialog, busy, clearErrors, fieldError, showApiError } from '../dom.js';
import { field, settingsCard, readFileText } from '../forms.js';
import { pageHead, subnav, table, card } from '../widgets.js';
import { clusterTab } from './cluster.js';

const TABS = [
	{ name: 'protocol', label: 'Email protocol' },
	{ name: 'rate', label: 'Rate control' },
	{ name: 'scanning', label: 'Scanning' },
	{ name: 'queue', label: 'Queue' },
	{ name: 'bayes', label: 'Bayes & rules' },
	{ name: 'backup', label: 'Backup' },
	{ name: 'tokens', label: 'API tokens' },
	{ name: 'cluster', label: 'Clustering' },
];

// Settings shown on BASIC and on the domain/user pages; the rest of the
// settings table lands on one of the ADVANCED tabs (unknown ones under "Other").
const ELSEWHERE = new Set(['tag_score', 'quarantine_score', 'block_score', 'tag_subject_prefix', 'quarantine_enabled', 'quarantine_summary',
	'quarantine_retention_days', 'quarantine_auto_users', 'admin_allowed_ips', 'web_base_url', 'web_session_idle', 'login_max_failures',
	'login_lockout', 'web_link_lifetime', 'postmaster_address', 'outbound_relay', 'default_hostname', 'default_domain',
	'metrics_allowed_ips', 'bayes_autolearn', 'cluster_failover', 'cluster_failover_grace']);

const SCAN_GROUPS = [
	['DNS and DNS blocklists', /^(dns_|dnsbl_|uribl_)/, 'Blocklist zones themselves are on Block/Accept → DNS blocklists.', null],
	['SPF', /^spf_/, null, /^spf_/],
	['Virus scanning (clamd)', /^av_/, null, /^av_/],
	['Attachments', /^attach_/, 'File extension and MIME type lists are on Block/Accept → Attachments.', /^attach_/],
	['Fingerprints', /^fingerprint_/, null, /^fingerprint_/],
];

function names(all, rx) {
	return all.filter((s) => rx.test(s.name)).map((s) => s.name);
}

async function protocolTab(body) {
	const all = await api.get('/config');
	mount(body, h('div', { class: 'stack' },
		settingsCard({ title: 'SMTP server', desc: 'Limits and behaviour of the SMTP listener.', names: names(all, /^smtp_/), all, strip: /^smtp_/ }),
		settingsCard({ title: 'Delivery queue', desc: 'Retries, lifetime and concurrency of deliveries to the destination servers.', names: names(all, /^queue_/), all, strip: /^queue_/ })));
}

async function rateTab(body) {
	const all = await api.get('/config');
	mount(body, settingsCard({ title: 'Rate control', desc: 'Per client IP, over 30 minutes; clients beyond the limit get 421 4.7.0.', names: names(all, /^rate_/), all, strip: /^rate_/ }));
}

async function scanningTab(body) {
	const [all, nodeCfg] = await Promise.all([api.get('/config'), api.get('/config?scope=node')]);
	const used = new Set(ELSEWHERE);
	for (const s of all) {
		if (/^(smtp_|queue_|rate_)/.test(s.name))
			used.add(s.name);
	}
	const cards = SCAN_GROUPS.map(([title, rx, desc, strip]) => {
		const n = names(all, rx);
		n.forEach((x) => used.add(x));
		return n.length ? settingsCard({ title, desc, names: n, all, strip }) : null;
	});
	// settings only a node can hold (thread counts) are saved at node scope
	const nodeOnly = (s) => s.scopes.length === 1 && s.scopes[0] === 'node';
	const other = all.filter((s) => !used.has(s.name) && !nodeOnly(s)).map((s) => s.name);
	const local = all.filter((s) => !used.has(s.name) && nodeOnly(s)).map((s) => s.name);
	mount(body, h('div', { class: 'stack' }, cards,
		other.length ? settingsCard({ title: 'Other settings', names: other, all }) : null,
		local.length ? settingsCard({ title: 'This node', desc: 'Node-local: not copied to other cluster members.', names: local, all: nodeCfg, scope: 'node', scopeLabel: 'set on this node' }) : null));
}

async function queueTab(body) {
	const q = await api.get('/queue');
	const flush = h('button', { type: 'button', class: 'btn primary' }, 'Retry all now');
	flush.addEventListener('click', () => busy(flush, async () => {
		try {
			const r = await api.post('/queue/flush', {});
			await queueTab(body);
			toast(`Retrying ${r.messages} message(s) now`);
		} catch (e) {
			toast(e.message, 'err');
		}
	}));
	const rows = q.map((m) => [h('code', {}, m.id), m.arrival, m.from || '<>', fmtSize(m.size),
		h('div', {}, (m.recipients || []).map((r) => h('div', {}, r.address, ' ', badge(r.state, r.state === 'deferred' ? 'warn' : 'info'),
			r.attempts ? h('span', { class: 'muted small' }, ` ${r.attempts} attempt(s); next ${r.next_attempt || '—'}; ${r.last_reply || ''}`) : null)))]);
	mount(body, card(`Delivery queue (${q.length})`, 'Messages waiting for delivery to their destination server.',
		h('div', { class: 'toolbar' }, flush),
		table({ columns: [{ label: 'Queue ID' }, { label: 'Arrived' }, { label: 'Sender' }, { label: 'Size', num: true }, { label: 'Recipients' }], rows, empty: 'The queue is empty.', caption: 'Queue' })));
}

function fileImportForm({ label, help, accept, button, confirm, send }) {
	const id = 'imp-' + Math.random().toString(36).slice(2);
	const file = h('input', { type: 'file', name: 'file', id, accept });
	const go = h('button', { type: 'submit', class: 'btn' }, button);
	const form = h('form', { novalidate: true, 'aria-label': 'Import ' + label },
		h('div', { class: 'field' }, h('label', { for: id }, label), file, help ? h('div', { class: 'help' }, help) : null, h('div', { class: 'error', 'aria-live': 'polite' })));
	form.extra = h('div');
	form.append(form.extra, h('div', { class: 'form-actions' }, go), h('div', { class: 'form-error', role: 'alert' }));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearErrors(form);
		if (!file.files.length)
			return fieldError(form, 'file', 'Choose a file');
		if (confirm && !await confirmDialog(confirm))
			return;
		await busy(go, async () => {
			try {
				await send(await readFileText(file.files[0]));
				form.reset();
			} catch (e) {
				fieldError(form, 'file', e.message);
			}
		});
	});
	return form;
}

async function bayesTab(body) {
	const [b, all] = await Promise.all([api.get('/bayes'), api.get('/config')]);
	const counts = h('dl', { class: 'kv' },
		h('dt', {}, 'State'), h('dd', {}, b.active ? badge('active', 'ok') : badge('learning', 'warn'),
			b.active ? null : h('span', { class: 'muted small' }, ` active from ${b.min_spam} spam and ${b.min_ham} ham messages`)),
		h('dt', {}, 'Spam learned'), h('dd', {}, fmtNum(b.nspam)),
		h('dt', {}, 'Ham learned'), h('dd', {}, fmtNum(b.nham)),
		h('dt', {}, 'Tokens'), h('dd', {}, fmtNum(b.ntokens)));
	const reset = h('button', { type: 'button', class: 'btn danger' }, 'Reset Bayes');
	reset.addEventListener('click', async () => {
		if (!await confirmDialog({ title: 'Reset the Bayes database?', message: 'Everything learned so far is forgotten. Export it first if you may want it back.', confirm: 'Reset' }))
			return;
		await busy(reset, async () => {
			try {
				await api.post('/bayes/reset', {});
				await bayesTab(body);
				toast('Bayes database reset');
			} catch (e) {
				toast(e.message, 'err');
			}
		});
	});
	const merge = field({ name: 'merge', label: 'Merge into the current data (off: replace it)', type: 'checkbox' });
	const imp = fileImportForm({
		label: 'Bayes data (JSON Lines)', accept: '.jsonl,.ndjson,.json,.txt', button: 'Import',
		send: async (data) => {
			const r = await api.post('/bayes/import', { data, merge: merge.input.checked });
			await bayesTab(body);
			toast(`Bayes imported: ${r.nspam} spam, ${r.nham} ham`);
		},
	});
	imp.extra.append(merge);
	const reload = h('button', { type: 'button', class: 'btn primary' }, 'Reload rules');
	const rulesOut = h('div');
	reload.addEventListener('click', () => busy(reload, async () => {
		mount(rulesOut);
		try {
			await api.post('/rules/reload', {});
			mount(rulesOut, h('div', { class: 'notice ok', role: 'status' }, 'Rules reloaded.'));
		} catch (e) {
			mount(rulesOut, h('div', { class: 'notice err', role: 'alert' }, h('pre', { class: 'msg-source' }, e.message)));
		}
	}));
	mount(body, h('div', { class: 'grid-2' },
		card('Bayes classifier', 'Learns from messages classified as spam or not spam in the message log and the quarantines.', counts,
			h('div', { class: 'form-actions' }, h('a', { class: 'btn', href: '/api/v1/bayes/export', download: 'rampart-bayes.jsonl' }, 'Export'), reset)),
		card('Import Bayes data', null, imp)),
	settingsCard({ title: 'Auto-learn', desc: 'Off by default: a rule that misfires would teach Bayes its mistake.', names: ['bayes_autolearn'], all }),
	card('Rules', 'Recompiles the rule files (rules/ of the source tree, and any rule source of the bootstrap file). A compile error keeps the old rules.',
		h('div', { class: 'form-actions' }, reload), rulesOut));
}

async function backupTab(body) {
	const imp = fileImportForm({
		label: 'Configuration file (JSON)', accept: '.json,application/json', button: 'Import configuration',
		help: 'The whole file is checked first; nothing changes when any key is wrong.',
		confirm: { title: 'Replace the whole configuration?', message: 'Settings, domains, lists, users and tokens are replaced by the file’s contents.', confirm: 'Replace' },
		send: async (text) => {
			let doc;
			try {
				doc = JSON.parse(text);
			} catch (e) {
				throw new Error('The file is not JSON: ' + e.message);
			}
			const r = await api.post('/config/import', doc);
			toast(`Configuration imported (${r.imported} keys)`);
		},
	});
	mount(body, h('div', { class: 'grid-2' },
		card('Export', 'One JSON file with the whole configuration: settings, domains, lists, filters, users (with password hashes) and API tokens. Keep it safe.',
			h('div', { class: 'form-actions' }, h('a', { class: 'btn primary', href: '/api/v1/config/export', download: 'rampart-config.json' }, 'Download backup'))),
		card('Import', 'Restores a backup made with Export (on this or another node).', imp)));
}

async function tokensTab(body) {
	const list = await api.get('/tokens');
	const name = field({ name: 'name', label: 'Name', placeholder: 'backup script' });
	const add = h('button', { type: 'submit', class: 'btn primary' }, 'Create token');
	const out = h('div');
	const form = h('form', { class: 'inline-form', novalidate: true, 'aria-label': 'Create an API token' }, name, add, h('div', { class: 'form-error', role: 'alert' }));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		if (!name.input.value.trim())
			return fieldError(form, 'name', 'Name the token');
		busy(add, async () => {
			try {
				const t = await api.post('/tokens', { name: name.input.value.trim() });
				await tokensTab(body);
				mount(body.querySelector('[data-token-out]'), h('div', { class: 'notice warn' }, `Token “${t.name}” — copy it now, it is shown only once:`, h('div', { class: 'secret' }, t.token)));
			} catch (e) {
				showApiError(form, e);
			}
		});
	});
	const remove = async (t) => {
		if (!await confirmDialog({ title: `Revoke token “${t.name}”?`, message: 'Scripts using it lose access at once.', confirm: 'Revoke' }))
			return;
		try {
			await api.del('/tokens/' + encodeURIComponent(t.id));
			await tokensTab(body);
			toast('Token revoked');
		} catch (e) {
			toast(e.message, 'err');
		}
	};
	out.dataset.tokenOut = '';
	mount(body, card('API tokens', 'Administrator tokens for scripts: header Authorization: Bearer rpt_….', form, out,
		h('div', { class: 'stack' }, table({
			columns: [{ label: 'ID', num: true }, { label: 'Name' }, { label: 'Created' }, { label: 'Last used' }, { label: 'Uses', num: true }, { label: 'Actions', sr: true, class: 'actions' }],
			rows: list.map((t) => [String(t.id), t.name, fmtTime(t.created_ms), t.last_used_ms ? fmtTime(t.last_used_ms) : 'never', fmtNum(t.uses),
				h('button', { type: 'button', class: 'btn small danger', onClick: () => remove(t) }, 'Revoke')]),
			empty: 'No API token.', caption: 'API tokens',
		}))));
}

const RENDER = { protocol: protocolTab, rate: rateTab, scanning: scanningTab, queue: queueTab, bayes: bayesTab, backup: backupTab, tokens: tokensTab, cluster: clusterTab };

export async function render(page, ctx) {
	let body = h('div');
	let stop = null; // a tab that keeps working (the Clustering tab polls) returns how to stop it
	const leave = () => {
		if (stop)
			stop();
		stop = null;
	};
	const show = async (rest) => {
		leave();
		const mine = body = h('div'); // a fresh one: late renders of the previous tab land nowhere
		const tab = RENDER[rest[0]] ? rest[0] : 'protocol';
		mount(page, pageHead('Advanced', 'Protocol, rate control, scanning, Bayes, backup and clustering'), subnav('advanced', TABS, tab, 'Advanced sections'), body);
		mount(body, h('div', { class: 'loading' }, 'Loading…'));
		const done = await RENDER[tab](body);
		if (typeof done === 'function') {
			if (mine === body)
				stop = done;
			else
				done();
		}
	};
	await show(ctx.rest);
	return { update: (rest) => show(rest).catch((e) => mount(body, h('div', { class: 'notice err' }, e.message))), cleanup: leave };
}
