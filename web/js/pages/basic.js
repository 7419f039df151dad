// BASIC: status dashboard, spam scoring thresholds, quarantine defaults,
// administration (admin password, admin IP ranges, links, domains).
import { api } from '../api.js';
import { h, mount, fmtNum, fmtDuration, toast, clearErrors, fieldError, showApiError, busy, confirmDialog } from '../dom.js';
import { stackedBars, meter } from '../chart.js';
import { settingsCard, field } from '../forms.js';
import { pageHead, subnav, legend, card, ACTIONS } from '../widgets.js';

const TABS = [
	{ name: 'status', label: 'Status' },
	{ name: 'scoring', label: 'Spam scoring' },
	{ name: 'quarantine', label: 'Quarantine' },
	{ name: 'admin', label: 'Administration' },
];

function tile(label, value, note, kind) {
	return h('div', { class: ['tile', kind && 't-' + kind] },
		h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), note ? h('div', { class: 'note' }, note) : null);
}

function hourLabel(b) {
	const d = new Date(b.t);
	return String(d.getHours()).padStart(2, '0') + ':00';
}

function dayLabel(b) {
	const d = new Date(b.t);
	return `${d.getMonth() + 1}/${d.getDate()}`;
}

function tip(b, fmt) {
	return `${fmt} — total ${b.total}: ` + ACTIONS.map((k) => `${k} ${b[k] || 0}`).join(', ');
}

async function statusTab(root) {
	const [st, stats] = await Promise.all([api.get('/status'), api.get('/stats')]);
	const used = st.data_total_mb ? 1 - st.data_free_mb / st.data_total_mb : 0;
	const gb = (mb) => (mb / 1024).toFixed(1) + ' GiB';
	const tiles = h('div', { class: 'tiles' },
		tile('Received', fmtNum(st.messages_received), 'since start', 'info'),
		tile('Allowed', fmtNum(st.messages_allowed), null, 'allow'),
		tile('Tagged', fmtNum(st.messages_tagged), null, 'tag'),
		tile('Quarantined', fmtNum(st.messages_quarantined), `${fmtNum(stats.quarantine_messages)} held now`, 'quarantine'),
		tile('Blocked', fmtNum(st.messages_blocked), null, 'block'),
		tile('Queue', fmtNum(st.queue_messages), `${fmtNum(st.queue_recipients)} recipient(s)`),
		tile('Delivered', fmtNum(st.delivered), `${fmtNum(st.deferred)} deferred · ${fmtNum(st.bounced)} bounced`),
		tile('Scan latency', `${Number(st.scan_latency_ms.avg).toFixed(1)} ms`, `end of DATA ${Number(st.data_latency_ms.avg).toFixed(1)} ms (avg)`),
		tile('SMTP sessions', fmtNum(st.smtp_sessions), `${fmtNum(st.domains)} domain(s) · ${fmtNum(stats.users)} user(s)`),
		h('div', { class: 'tile' }, h('div', { class: 'label' }, 'Disk use'),
			h('div', { class: 'value' }, `${Math.round(used * 100)}%`),
			h('div', { class: 'meter' }, meter(used, `disk ${Math.round(used * 100)}% used`)),
			h('div', { class: 'note' }, `${gb(st.data_free_mb)} free of ${gb(st.data_total_mb)}`)));
	const hourly = card('Messages per hour', 'The last 24 hours, by action (local time)',
		stackedBars({ buckets: stats.hourly, keys: ACTIONS, label: hourLabel, tip: (b) => tip(b, hourLabel(b)), title: 'Messages per hour, last 24 hours' }),
		legend(ACTIONS));
	const daily = card('Messages per day', 'The last 25 days, by action',
		stackedBars({ buckets: stats.daily, keys: ACTIONS, label: dayLabel, tip: (b) => tip(b, dayLabel(b)), title: 'Messages per day, last 25 days' }),
		legend(ACTIONS));
	const state = st.draining ? h('span', { class: 'badge b-warn' }, 'draining') : h('span', { class: 'badge b-ok' }, 'running');
	mount(root, h('p', { class: 'muted small' }, state, ` ${st.hostname} · version ${st.version} · up ${fmtDuration(st.uptime_seconds)} · configuration v${st.config_version}`),
		tiles, h('div', { class: 'grid-2' }, hourly, daily));
}

async function scoringTab(root) {
	const all = await api.get('/config');
	mount(root, settingsCard({
		title: 'Spam scoring thresholds',
		desc: 'A message whose score reaches a threshold gets that action (block beats quarantine beats tag). 10 or more switches the action off. Domains and users may override these.',
		names: ['tag_score', 'quarantine_score', 'block_score', 'tag_subject_prefix'],
		all,
	}));
}

async function quarantineTab(root) {
	const all = await api.get('/config');
	const summaries = h('button', {
		type: 'button', class: 'btn', onClick: async (ev) => {
			await busy(ev.currentTarget, async () => {
				try {
					const r = await api.post('/quarantine/summaries', { force: false });
					toast(r.sent.length ? `Summary mailed to ${r.sent.length} user(s)` : 'No summary was due');
				} catch (e) {
					toast(e.message, 'err');
				}
			});
		},
	}, 'Send due summaries now');
	const purge = h('button', {
		type: 'button', class: 'btn danger', onClick: async (ev) => {
			if (!await confirmDialog({ title: 'Purge old quarantined mail?', message: 'Messages older than the retention period are deleted now.', confirm: 'Purge' }))
				return;
			await busy(ev.currentTarget, async () => {
				try {
					const r = await api.post('/quarantine/purge', {});
					toast(`${r.purged} message(s) older than ${r.retention_days} day(s) purged`);
				} catch (e) {
					toast(e.message, 'err');
				}
			});
		},
	}, 'Purge expired now');
	mount(root, settingsCard({
		title: 'Quarantine defaults',
		desc: 'Defaults for every user; domains and users may override quarantine and summary settings.',
		names: ['quarantine_enabled', 'quarantine_summary', 'quarantine_retention_days', 'quarantine_auto_users'],
		all,
	}), card('Housekeeping', 'Summaries and purging also run by themselves every 5 minutes.', h('div', { class: 'btn-row' }, summaries, purge)));
}

function passwordCard() {
	const cur = field({ name: 'current_password', label: 'Current password', type: 'password', autocomplete: 'current-password' });
	const pw = field({ name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password', help: '8 to 256 characters' });
	const again = field({ name: 'password2', label: 'Repeat the new password', type: 'password', autocomplete: 'new-password' });
	const save = h('button', { type: 'submit', class: 'btn primary' }, 'Change password');
	const form = h('form', { novalidate: true, 'aria-label': 'Admin password' }, h('div', { class: 'fields one' }, cur, pw, again), h('div', { class: 'form-actions' }, save));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		if (pw.input.value !== again.input.value)
			return fieldError(form, 'password2', 'The two passwords differ');
		busy(save, async () => {
			try {
				await api.put('/admin/password', { password: pw.input.value, current_password: cur.input.value });
				form.reset();
				toast('Admin password changed; other admin sessions were ended');
			} catch (e) {
				showApiError(form, e);
			}
		});
	});
	return card('Admin password', 'Changing it ends every other administrator session.', form);
}

async function adminTab(root) {
	const [all, nodeCfg, st, domains] = await Promise.all([api.get('/config'), api.get('/config?scope=node'), api.get('/status'), api.get('/domains')]);
	const host = card('Host and domains', null,
		h('dl', { class: 'kv' },
			h('dt', {}, 'Host name'), h('dd', {}, h('code', { 'data-testid': 'node-hostname' }, st.default_hostname || st.hostname), h('div', { class: 'muted small' }, 'Greeting, Received: headers, DSNs and mailed links. Set below (this node only); blank = hostname of the bootstrap file (' + st.hostname + ').')),
			h('dt', {}, 'Recipient domains'), h('dd', {}, domains.length ? h('div', { class: 'chips' }, domains.map((d) => h('span', { class: 'chip' }, d.name))) : 'none — all mail is refused',
				h('div', {}, h('a', { href: '#/domains' }, 'Manage domains')))));
	mount(root, h('div', { class: 'grid-2' }, passwordCard(), host), h('div', { class: 'stack' }, settingsCard({
		title: 'Access and sessions',
		desc: 'Who may reach the administration, and how long sessions and mailed links last.',
		names: ['admin_allowed_ips', 'metrics_allowed_ips', 'web_base_url', 'web_session_idle', 'login_max_failures', 'login_lockout', 'web_link_lifetime'],
		all,
	}), settingsCard({
		title: 'This node',
		desc: 'Node-local: not copied to other cluster members.',
		names: ['default_hostname'], all: nodeCfg, scope: 'node', scopeLabel: 'set on this node',
	}), settingsCard({ title: 'Mail identity', names: ['default_domain', 'postmaster_address', 'outbound_relay'], all })));
}

const RENDER = { status: statusTab, scoring: scoringTab, quarantine: quarantineTab, admin: adminTab };

export async function render(page, ctx) {
	let body = h('div');
	let timer = null;
	const show = async (rest) => {
		body = h('div'); // a fresh one: late renders of the previous tab land nowhere
		const tab = RENDER[rest[0]] ? rest[0] : 'status';
		clearInterval(timer);
		const refresh = h('button', { type: 'button', class: 'btn', onClick: () => show([tab]) }, 'Refresh');
		mount(page, pageHead('Basic', 'Status, spam scoring, quarantine and administration', tab === 'status' ? refresh : null),
			subnav('basic', TABS, tab, 'Basic sections'), body);
		mount(body, h('div', { class: 'loading' }, 'Loading…'));
		const mine = body;
		await RENDER[tab](mine);
		if (tab === 'status' && mine === body)
			timer = setInterval(() => statusTab(mine).catch(() => {}), 30000);
	};
	await show(ctx.rest);
	return {
		update: (rest) => show(rest).catch((e) => mount(body, h('div', { class: 'notice err' }, e.message))),
		cleanup: () => clearInterval(timer),
	};
}
