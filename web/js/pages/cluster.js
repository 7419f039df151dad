// ADVANCED → Clustering (docs/cluster.md): the Cluster Shared Secret and
// Cluster Host Name of this node, joining a cluster through any member,
// the Clustered Systems with their state lights, the node-local Local Host
// Map and the conflict list. The member list and the conflicts are polled
// while the tab is shown; clusterTab returns the function that stops it.
import { api, enc } from '../api.js';
import { h, mount, fmtTimeSec, badge, toast, confirmDialog, busy, clearErrors, fieldError, showApiError } from '../dom.js';
import { field, settingsCard } from '../forms.js';
import { table, card } from '../widgets.js';

const POLL_MS = 3000;
const CONFLICTS_SHOWN = 50;
const STATE_BADGE = { single: 'info', joining: 'warn', syncing: 'warn', up: 'ok', down: 'off' };
const STATE_TEXT = {
	single: 'single node (not a member of a cluster)',
	joining: 'joining a cluster',
	syncing: 'member, synchronising',
	up: 'member, up',
	down: 'member, but corosync is not reachable',
};
const LIGHT_OF = { up: 'green', syncing: 'yellow', down: 'red' };

// Config versions are hybrid-logical-clock stamps: milliseconds in the high
// 48 bits. JSON numbers lose the low bits, so the page shows the time of
// the newest change (exact to the millisecond) and the digest, which is
// what tells whether two members hold the same configuration.
function versionCell(m) {
	const v = Number(m.config_version);
	if (!Number.isFinite(v) || v <= 0)
		return h('span', { class: 'muted' }, '—');
	const ms = Math.floor(v / 65536);
	const iso = new Date(ms).toISOString();
	return h('span', { title: `newest change ${iso}` }, fmtTimeSec(ms),
		m.config_digest ? h('div', { class: 'muted small mono' }, '#' + String(m.config_digest).slice(0, 8)) : null);
}

function lastSeenCell(m) {
	if (m.state !== 'down')
		return 'now';
	return m.last_seen_ms ? fmtTimeSec(m.last_seen_ms) : h('span', { class: 'muted' }, 'never');
}

function memberName(m) {
	return m.name || m.address || (m.local ? 'this node' : 'node ' + m.nodeid);
}

function stateCell(m) {
	const light = m.light || LIGHT_OF[m.state] || 'red';
	return h('span', { class: 'light-row' },
		h('span', { class: ['light', 'l-' + light], role: 'img', 'aria-label': light }), m.state);
}

// ---- this node ----------------------------------------------------------------

// This node's place in the cluster, as corosync and the configuration store see it.
function summaryBox() {
	const el = h('div', { class: 'cluster-summary' });
	const update = (st) => {
		const rows = [['State', [badge(st.state, STATE_BADGE[st.state] || 'info'), ' ', h('span', { class: 'muted small' }, STATE_TEXT[st.state] || '')]]];
		if (st.clustered) {
			const v = st.votes || {};
			rows.push(['Node ID', String(st.nodeid)],
				['Quorum', st.quorate ? `yes: ${v.total} of ${v.expected} votes (${v.quorum} needed)`
					: badge(`no quorum: ${v.total} of ${v.expected} votes, ${v.quorum} needed`, 'off')],
				['corosync', st.corosync && st.corosync.running ? `running (pid ${st.corosync.pid})`
					: h('span', { class: 'error-text' }, 'not running' + (st.corosync && st.corosync.error ? ': ' + st.corosync.error : ''))],
				['Changes waiting', String(st.backlog || 0)]);
		}
		if (st.config_digest)
			rows.push(['Configuration', `${st.config_rows} propagated keys, digest ${String(st.config_digest).slice(0, 16)}`]);
		mount(el, h('dl', { class: 'kv' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
			st.clustered && !st.quorate ? h('div', { class: 'notice warn', role: 'status' },
				'Without quorum this member refuses configuration changes; it stays readable.') : null);
	};
	return { el, update };
}

function secretCard(ctx) {
	const state = h('span', { 'data-testid': 'secret-state' });
	const secret = field({ name: 'secret', label: 'Cluster Shared Secret', type: 'password', autocomplete: 'new-password',
		help: '8 to 128 printable characters, the same on every member. Set it on the cluster first, then on the node that joins. It is never shown.' });
	const save = h('button', { type: 'submit', class: 'btn primary' }, 'Save secret');
	const form = h('form', { novalidate: true, 'aria-label': 'Set the shared secret' }, h('div', { class: 'fields one' }, secret),
		h('div', { class: 'form-actions' }, save), h('div', { class: 'form-error', role: 'alert' }));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		if (!secret.input.value)
			return fieldError(form, 'secret', 'Enter the secret');
		const value = secret.input.value;
		ctx.serial(() => busy(save, async () => {
			try {
				await api.put('/cluster/secret', { secret: value });
				form.reset();
				toast('Cluster Shared Secret saved');
				await ctx.refresh();
			} catch (e) {
				showApiError(form, e);
			}
		}));
	});
	const el = card('Cluster Shared Secret', 'The passcode every member shares: it keys corosync’s encryption and authenticates the members to each other.',
		h('p', {}, 'Secret on this node: ', state), form);
	const update = (st) => mount(state, st.secret_set ? badge('set', 'ok') : badge('not set', 'warn'));
	return { el, update };
}

function hostnameCard(ctx) {
	const name = field({ name: 'hostname', label: 'Cluster Host Name', placeholder: 'blank: this node’s address',
		help: 'The name the other members use to reach this node; it must resolve on every member (or be in their Local Host Map). Blank: the address they see.' });
	const save = h('button', { type: 'submit', class: 'btn primary' }, 'Save host name');
	const form = h('form', { novalidate: true, 'aria-label': 'Set the host name' }, h('div', { class: 'fields one' }, name),
		h('div', { class: 'form-actions' }, save), h('div', { class: 'form-error', role: 'alert' }));
	let shown = null;
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		const value = name.input.value.trim();
		ctx.serial(() => busy(save, async () => {
			try {
				const st = await api.put('/cluster/hostname', { hostname: value });
				shown = null;
				update(st);
				toast(value ? `Cluster Host Name set to ${value}` : 'Cluster Host Name cleared: this node’s address is used');
				await ctx.refresh();
			} catch (e) {
				showApiError(form, e);
			}
		}));
	});
	// the input follows the server unless the administrator is editing it
	const update = (st) => {
		const v = st.hostname || '';
		if (v === shown)
			return;
		if (shown === null || name.input.value === shown)
			name.input.value = v;
		name.input.defaultValue = v;
		shown = v;
	};
	const el = card('Cluster Host Name', 'Node-local: not propagated.', form);
	return { el, update };
}

// Join (single node) or leave (member): one card, switched by the state.
function membershipCard(ctx) {
	let joining = false, failed = false; // the form stays while a join runs or after it failed
	const host = field({ name: 'host', label: 'Cluster', placeholder: '10.0.0.11 or mail1.example.com',
		help: 'The address or Cluster Host Name of any member, with :port when its web port differs from this node’s.' });
	const join = h('button', { type: 'submit', class: 'btn primary' }, 'Join Cluster');
	const progress = h('div', { 'aria-live': 'polite' });
	const joinForm = h('form', { novalidate: true, 'aria-label': 'Join a cluster' }, h('div', { class: 'fields one' }, host),
		h('div', { class: 'form-actions' }, join), h('div', { class: 'form-error', role: 'alert' }), progress);
	joinForm.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(joinForm);
		failed = false;
		const target = host.input.value.trim();
		if (!target)
			return fieldError(joinForm, 'host', 'Enter the address or host name of a member');
		ctx.serial(() => busy(join, async () => {
			joining = true;
			mount(progress, h('div', { class: 'notice info', role: 'status' }, `Joining the cluster of ${target}…`));
			ctx.refresh();
			try {
				await api.post('/cluster/join', { host: target });
				joinForm.reset();
				toast(`Joined the cluster of ${target}`);
			} catch (e) {
				showApiError(joinForm, e.field ? e : Object.assign(e, { field: 'host' }));
				failed = true;
			} finally {
				joining = false;
				mount(progress);
			}
			await ctx.refresh();
		}));
	});
	const joinBox = h('div', {}, joinForm);
	const who = h('p');
	const leave = h('button', { type: 'button', class: 'btn danger' }, 'Leave cluster');
	const leaveOut = h('div');
	leave.addEventListener('click', async () => {
		if (!await confirmDialog({ title: 'Leave the cluster?', message: 'This node keeps its current settings and becomes a single node; the other members stop sending it changes.', confirm: 'Leave cluster' }))
			return;
		ctx.serial(() => busy(leave, async () => {
			mount(leaveOut);
			try {
				const r = await api.post('/cluster/leave', {});
				if (r && r.warning)
					mount(leaveOut, h('div', { class: 'notice warn', role: 'status' }, r.warning));
				toast('This node left the cluster');
			} catch (e) {
				mount(leaveOut, h('div', { class: 'notice err', role: 'alert' }, e.message));
			}
			await ctx.refresh();
		}));
	});
	const leaveBox = h('div', {}, who, h('div', { class: 'form-actions' }, leave));
	const title = h('h2', {}, 'Join a cluster');
	const desc = h('p', { class: 'desc' });
	const el = h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('div', {}, title, desc)), joinBox, leaveBox, leaveOut);
	const update = (st) => {
		const member = st.clustered;
		if (member && st.state === 'up')
			failed = false;
		joinBox.hidden = member && !joining && !failed;
		leaveBox.hidden = !member;
		title.textContent = member ? 'Cluster membership' : 'Join a cluster';
		desc.textContent = member ? '' : 'This node’s settings, domains, lists and filters are replaced by the cluster’s; its users are merged into the cluster ' +
			'(none is lost). Its node-local settings (listen addresses, TLS, host name, Local Host Map) stay. Set the same Cluster Shared Secret first.';
		if (member) {
			const n = (st.members || []).length;
			mount(who, `This node is member ${st.nodeid} of a cluster of ${n}. Leaving keeps its settings and makes it a single node again.`);
		}
	};
	return { el, update };
}

// ---- clustered systems --------------------------------------------------------

function roleControl(m, st, ctx) {
	if (!st.clustered)
		return badge(m.role || 'active', 'info');
	const sel = h('select', { 'aria-label': `Role of ${memberName(m)}`, class: 'role-select' },
		['active', 'standby'].map((r) => h('option', { value: r, selected: r === m.role }, r)));
	sel.addEventListener('change', () => ctx.serial(async () => {
		sel.disabled = true;
		try {
			await api.put(`/cluster/members/${enc(String(m.nodeid))}/role`, { role: sel.value });
			toast(`${memberName(m)} is now ${sel.value}`);
		} catch (e) {
			sel.value = m.role;
			toast(e.message, 'err');
		} finally {
			sel.disabled = false;
			sel.blur();
		}
		await ctx.refresh();
	}));
	return sel;
}

function removeMember(m, ctx) {
	return async () => {
		const name = memberName(m);
		if (!await confirmDialog({ title: `Remove ${name} from the cluster?`,
			message: 'The other members drop it from their member list; it keeps its settings and becomes a single node when it hears of it.',
			confirm: 'Remove member' }))
			return;
		ctx.serial(async () => {
			try {
				await api.del('/cluster/members/' + enc(String(m.nodeid)));
				toast(`${name} removed from the cluster`);
			} catch (e) {
				toast(e.message, 'err');
			}
			await ctx.refresh();
		});
	};
}

function membersCard(ctx) {
	const box = h('div');
	const summary = summaryBox();
	const el = card('Clustered Systems', 'Every member, green when up, yellow while it joins or synchronises, red when this node cannot see it. ' +
		'A member is joined when every member shows it green.', summary.el, box);
	let last = '';
	const update = (st) => {
		summary.update(st);
		// a role menu being used would be replaced under the pointer: wait for the next round
		const act = document.activeElement;
		if (act && act.tagName === 'SELECT' && box.contains(act))
			return;
		// rebuilt only when something shown changed (keeps the keyboard focus)
		const ms = st.members || [];
		const key = JSON.stringify([st.clustered, ms.map((m) => ({ ...m, last_seen: null, last_seen_ms: m.state === 'down' ? m.last_seen_ms : null }))]);
		if (key === last)
			return;
		last = key;
		mount(box, table({
			columns: [{ label: 'State' }, { label: 'Host name' }, { label: 'Address' }, { label: 'Role' }, { label: 'Config version' },
				{ label: 'Last seen' }, { label: 'Actions', sr: true, class: 'actions' }],
			rows: ms.map((m) => ({
				attrs: { 'data-testid': 'cluster-member', dataset: { state: m.state, nodeid: String(m.nodeid) } },
				cells: [stateCell(m),
					h('span', {}, m.name || h('span', { class: 'muted' }, '(blank: its address)'), m.local ? [' ', badge('this node', 'info')] : null,
						m.error ? h('div', { class: 'error-text small' }, m.error) : null),
					m.address ? h('code', {}, m.address + (m.port ? ':' + m.port : '')) : h('span', { class: 'muted' }, '—'),
					roleControl(m, st, ctx), versionCell(m), lastSeenCell(m),
					st.clustered && !m.local
						? h('button', { type: 'button', class: 'btn small danger', 'aria-label': `Remove ${memberName(m)}`, onClick: removeMember(m, ctx) }, 'Remove')
						: null],
			})),
			empty: 'No member.', caption: 'Clustered Systems',
		}));
	};
	return { el, update };
}

// ---- local host map -------------------------------------------------------------

function hostmapCard(ctx) {
	const name = field({ name: 'name', label: 'Host name', placeholder: 'mail1.example.com' });
	const addr = field({ name: 'address', label: 'Address', placeholder: '10.0.0.11', class: 'narrow' });
	const add = h('button', { type: 'submit', class: 'btn primary' }, 'Add to host map');
	const form = h('form', { class: 'inline-form', novalidate: true, 'aria-label': 'Add a host map entry' }, name, addr, add,
		h('div', { class: 'form-error', role: 'alert' }));
	const list = h('div', { class: 'stack' });
	const load = async () => {
		const rows = await api.get('/cluster/hostmap');
		mount(list, table({
			columns: [{ label: 'Host name' }, { label: 'Address' }, { label: 'Actions', sr: true, class: 'actions' }],
			rows: rows.map((r) => ({
				attrs: { dataset: { host: r.name } },
				cells: [r.name, h('code', {}, r.address),
					h('button', { type: 'button', class: 'btn small danger', 'aria-label': `Remove ${r.name} from the host map`, onClick: () => remove(r) }, 'Remove')],
			})),
			empty: 'The Local Host Map is empty: names resolve through /etc/hosts and DNS.', caption: 'Local Host Map',
		}));
	};
	const remove = async (r) => {
		if (!await confirmDialog({ title: `Remove ${r.name} from the Local Host Map?`, message: 'This node resolves the name through /etc/hosts and DNS again.', confirm: 'Remove' }))
			return;
		ctx.serial(async () => {
			try {
				await api.del('/cluster/hostmap/' + enc(r.name));
				toast(`${r.name} removed from the Local Host Map`);
			} catch (e) {
				toast(e.message, 'err');
			}
			await load();
		});
	};
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		const n = name.input.value.trim(), a = addr.input.value.trim();
		if (!n)
			return fieldError(form, 'name', 'Enter a host name');
		if (!a)
			return fieldError(form, 'address', 'Enter an IP address');
		ctx.serial(() => busy(add, async () => {
			try {
				const r = await api.put('/cluster/hostmap/' + enc(n), { address: a });
				form.reset();
				toast(`Host map: ${r.name} → ${r.address}`);
				await load();
			} catch (e) {
				showApiError(form, e);
			}
		}));
	});
	const el = card('Local Host Map', 'Host name → address, consulted before DNS for every name this node resolves (cluster members and destination servers). ' +
		'Node-local: add the entries on every member that needs them.', form, list);
	return { el, load };
}

// ---- conflicts ---------------------------------------------------------------------

function sideCell(s) {
	const v = s && s.value !== null && s.value !== undefined ? String(s.value) : null;
	return h('div', {}, v === null ? h('span', { class: 'muted' }, '(deleted)') : h('code', { class: 'wrap', title: v }, v.length > 120 ? v.slice(0, 120) + '…' : v),
		h('div', { class: 'muted small' }, `node ${s ? s.node : '?'}, ${s ? s.stamp : ''}`));
}

function conflictsCard(ctx) {
	const box = h('div');
	const clearBtn = h('button', { type: 'button', class: 'btn small' }, 'Clear list');
	clearBtn.addEventListener('click', async () => {
		if (!await confirmDialog({ title: 'Clear the conflict list?', message: 'Only this node’s copy of the list is cleared; the kept values stay.', confirm: 'Clear' }))
			return;
		ctx.serial(() => busy(clearBtn, async () => {
			try {
				await api.del('/cluster/conflicts');
				toast('Conflict list cleared');
			} catch (e) {
				toast(e.message, 'err');
			}
			await load();
		}));
	});
	let last = '';
	const load = async () => {
		const r = await api.get('/cluster/conflicts?limit=' + CONFLICTS_SHOWN);
		const key = JSON.stringify(r);
		if (key === last)
			return;
		last = key;
		clearBtn.hidden = !r.total;
		mount(box, r.total > r.rows.length ? h('p', { class: 'muted small' }, `The ${r.rows.length} newest of ${r.total}.`) : null,
			table({
				columns: [{ label: 'Recorded' }, { label: 'Key' }, { label: 'Kept' }, { label: 'Overwritten' }],
				rows: r.rows.map((c) => ({ attrs: { 'data-testid': 'cluster-conflict' }, cells: [c.time_ms ? fmtTimeSec(c.time_ms) : '', h('code', {}, c.key), sideCell(c.winner), sideCell(c.loser)] })),
				empty: 'No conflict: no change was overwritten by a concurrent one.', caption: 'Conflicts',
			}));
	};
	const el = card('Conflicts', 'Changes made on both sides of a partition to the same key: the newest (stamp, node) was kept everywhere, the other one is listed here.',
		h('div', { class: 'toolbar' }, clearBtn), box);
	return { el, load };
}

// ---- the tab -------------------------------------------------------------------------

export async function clusterTab(body) {
	let chain = Promise.resolve(), timer = null, stopped = false, seq = 0;
	const problem = h('div');
	const ctx = {
		// the page's changes go out one at a time, in the order they were made
		serial: (fn) => {
			const p = chain.then(fn);
			chain = p.catch(() => {});
			return p;
		},
		refresh: null,
	};
	const parts = [membersCard(ctx), secretCard(ctx), hostnameCard(ctx), membershipCard(ctx)];
	const hostmap = hostmapCard(ctx), conflicts = conflictsCard(ctx);
	const [members, secret, hostname, membership] = parts;
	const stop = () => {
		stopped = true;
		clearTimeout(timer);
	};
	const apply = (st) => parts.forEach((p) => p.update(st));
	// one round: status and conflicts; only the newest round is shown and schedules the next
	const poll = async () => {
		clearTimeout(timer);
		if (stopped || !body.isConnected)
			return stop();
		if (document.hidden) { // a tab in the background: ask again when it shows
			timer = setTimeout(poll, POLL_MS);
			return;
		}
		const mine = ++seq;
		try {
			const [st] = await Promise.all([api.get('/cluster'), conflicts.load()]);
			if (mine === seq && !stopped) {
				apply(st);
				mount(problem);
			}
		} catch (e) {
			if (mine === seq)
				mount(problem, h('div', { class: 'notice warn', role: 'status' }, 'The cluster state could not be read: ' + e.message));
		}
		if (mine === seq && !stopped)
			timer = setTimeout(poll, POLL_MS);
	};
	ctx.refresh = poll;
	const [st, all] = await Promise.all([api.get('/cluster'), api.get('/config'), hostmap.load(), conflicts.load()]);
	apply(st);
	const failover = settingsCard({
		title: 'Failover',
		desc: 'Standby members filter no mail (their SMTP service answers 421). Automatic: when an active member is down for the grace period, the earliest joined standby that is up becomes active and the lost member standby.',
		names: ['cluster_failover', 'cluster_failover_grace'], all,
	});
	mount(body, h('div', { class: 'cluster-page' }, problem, members.el,
		h('div', { class: 'grid-2' }, secret.el, hostname.el),
		h('div', { class: 'grid-2' }, membership.el, hostmap.el),
		h('div', { class: 'grid-2' }, failover, conflicts.el)));
	timer = setTimeout(poll, POLL_MS);
	return stop;
}
