// USERS: list with filters, add, delete, edit feature switches, reset the
// password (set one or mail a link), import/export CSV, per-user settings
// and lists, the user's quarantine. #/users/ADDR opens one user.
import { api, enc, query } from '../api.js';
import { h, mount, fmtTime, fmtSize, scoreEl, badge, toast, confirmDialog, busy, clearErrors, fieldError, showApiError } from '../dom.js';
import { field, readFileText } from '../forms.js';
import { pageHead, table, pager, card } from '../widgets.js';
import { settingsCardFor, listsBlock } from '../userprefs.js';
import { navigate } from '../shell.js';

const LIMIT = 50;
const FEATURES = [['quarantine', 'Quarantine', 'The user has a quarantine (off: suspected spam is delivered tagged [QUAR]:)'],
	['scanning', 'Spam scanning', 'Mail to this user is spam-scored (off: only virus and attachment checks)'],
	['settings', 'Self-service settings', 'The user may change their own settings and lists']];

function featureBadges(f) {
	const off = FEATURES.filter(([k]) => !f[k]);
	return off.length ? h('span', { class: 'btn-row' }, off.map(([, label]) => badge(label + ' off', 'off'))) : badge('all on', 'ok');
}

function addUserCard(onAdded) {
	const addr = field({ name: 'address', label: 'Email address', type: 'email', placeholder: 'alice@example.com' });
	const pw = field({ name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', help: 'Optional: blank lets the user choose one through a mailed link' });
	const link = field({ name: 'send_link', label: 'Mail a set-password link', type: 'checkbox', value: true });
	const feats = FEATURES.map(([k, label]) => field({ name: 'feat_' + k, label, type: 'checkbox', value: true }));
	const add = h('button', { type: 'submit', class: 'btn primary' }, 'Add user');
	const out = h('div');
	const form = h('form', { novalidate: true, 'aria-label': 'Add a user' },
		h('div', { class: 'fields' }, addr, pw), h('div', { class: 'fields checks' }, link, feats),
		h('div', { class: 'form-actions' }, add), h('div', { class: 'form-error', role: 'alert' }), out);
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		mount(out);
		if (!addr.input.value.trim())
			return fieldError(form, 'address', 'Enter the user’s email address');
		const body = { address: addr.input.value.trim(), send_link: link.input.checked, features: {} };
		if (pw.input.value)
			body.password = pw.input.value;
		FEATURES.forEach(([k], i) => { body.features[k] = feats[i].input.checked; });
		busy(add, async () => {
			try {
				const u = await api.post('/users', body);
				toast(`User ${u.address} added`);
				form.reset();
				onAdded(u);
			} catch (e) {
				showApiError(form, e);
			}
		});
	});
	return card('Add a user', 'Accounts are also created automatically when mail is first quarantined for an address.', form);
}

function importCard(onDone) {
	const file = h('input', { type: 'file', name: 'csv', accept: '.csv,text/csv', id: 'user-import-file' });
	const links = field({ name: 'send_links', label: 'Mail set-password links to new users without a password', type: 'checkbox' });
	const go = h('button', { type: 'submit', class: 'btn' }, 'Import');
	const out = h('div');
	const form = h('form', { novalidate: true, 'aria-label': 'Import users' },
		h('div', { class: 'field' }, h('label', { for: file.id }, 'CSV file'), file,
			h('div', { class: 'help' }, 'Columns by header: address (required), password or password_hash, quarantine, scanning, settings.'),
			h('div', { class: 'error', 'aria-live': 'polite' })),
		links, h('div', { class: 'form-actions' }, go, h('a', { class: 'btn', href: '/api/v1/users/export', download: 'rampart-users.csv' }, 'Export CSV')),
		h('div', { class: 'form-error', role: 'alert' }), out);
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		mount(out);
		if (!file.files.length)
			return fieldError(form, 'csv', 'Choose a CSV file');
		busy(go, async () => {
			try {
				const csv = await readFileText(file.files[0]);
				const r = await api.post('/users/import', { csv, send_links: links.input.checked });
				toast(`Import: ${r.created} created, ${r.updated} updated`);
				mount(out, h('div', { class: ['notice', r.errors.length ? 'warn' : 'ok'] },
					`${r.created} created, ${r.updated} updated, ${r.errors.length} line(s) skipped.`,
					r.errors.length ? h('ul', {}, r.errors.slice(0, 20).map((e) => h('li', {}, `line ${e.line}: ${e.error}`))) : null));
				onDone();
			} catch (e) {
				showApiError(form, e.field ? e : Object.assign(e, { field: 'csv' }));
			}
		});
	});
	return card('Import and export', null, form);
}

function featuresCard(u, reload) {
	const feats = FEATURES.map(([k, label, help]) => field({ name: k, label, help, type: 'checkbox', value: u.features[k] }));
	const save = h('button', { type: 'submit', class: 'btn primary' }, 'Save switches');
	const form = h('form', { novalidate: true, 'aria-label': 'Feature switches' }, h('div', { class: 'fields one' }, feats),
		h('div', { class: 'form-actions' }, save), h('div', { class: 'form-error', role: 'alert' }));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		const features = {};
		FEATURES.forEach(([k], i) => { features[k] = feats[i].input.checked; });
		busy(save, async () => {
			try {
				await api.put('/users/' + enc(u.address), { features });
				await reload();
				toast('Feature switches saved');
			} catch (e) {
				showApiError(form, e);
			}
		});
	});
	return card('Feature switches', null, form);
}

function passwordCard(u) {
	const pw = field({ name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password', help: '8 to 256 characters; the user’s sessions end' });
	const save = h('button', { type: 'submit', class: 'btn primary' }, 'Set password');
	const mail = h('button', { type: 'button', class: 'btn' }, 'Mail a set-password link');
	const out = h('div');
	const form = h('form', { novalidate: true, 'aria-label': 'Reset password' }, h('div', { class: 'fields one' }, pw),
		h('div', { class: 'form-actions' }, save, mail), h('div', { class: 'form-error', role: 'alert' }), out);
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		if (!pw.input.value)
			return fieldError(form, 'password', 'Enter a password');
		busy(save, async () => {
			try {
				await api.put(`/users/${enc(u.address)}/password`, { password: pw.input.value });
				form.reset();
				toast(`Password of ${u.address} changed`);
			} catch (e) {
				showApiError(form, e);
			}
		});
	});
	mail.addEventListener('click', () => busy(mail, async () => {
		try {
			const r = await api.post(`/users/${enc(u.address)}/link`, { send: true });
			mount(out, h('div', { class: 'notice ok' }, r.mailed ? 'Link mailed to the user: ' : 'Link (not mailed): ', h('div', { class: 'secret' }, r.link)));
		} catch (e) {
			toast(e.message, 'err');
		}
	}));
	return card('Reset password', u.has_password ? null : 'This user has not chosen a password yet.', form);
}

async function quarantineCard(u) {
	const r = await api.get('/quarantine' + query({ user: u.address, limit: 20 }));
	const act = async (q, what) => {
		if (what === 'delete' && !await confirmDialog({ title: 'Delete this message?', message: q.subject, confirm: 'Delete' }))
			return;
		try {
			if (what === 'delete')
				await api.del('/quarantine/' + q.id);
			else
				await api.post(`/quarantine/${q.id}/deliver`, {});
			toast(what === 'delete' ? 'Message deleted' : 'Message released for delivery');
			box.replaceWith(await quarantineCard(u));
		} catch (e) {
			toast(e.message, 'err');
		}
	};
	const box = card(`Quarantine (${r.total})`, r.total > 20 ? 'The 20 newest messages.' : null, table({
		columns: [{ label: 'Time' }, { label: 'From' }, { label: 'Subject' }, { label: 'Score', num: true }, { label: 'Size', num: true }, { label: 'Actions', sr: true, class: 'actions' }],
		rows: r.rows.map((q) => [fmtTime(q.time_ms), q.mail_from || '<>', q.subject, scoreEl(q.score), fmtSize(q.size),
			h('span', { class: 'btn-row' }, h('button', { type: 'button', class: 'btn small ok', onClick: () => act(q, 'deliver') }, 'Deliver'),
				h('button', { type: 'button', class: 'btn small danger', onClick: () => act(q, 'delete') }, 'Delete'))]),
		empty: 'The quarantine is empty.', caption: 'Quarantine',
	}));
	return box;
}

let flash = null; // a notice for the next user panel (the link of a new user)

async function userPanel(addr, reloadList) {
	let u;
	try {
		u = await api.get('/users/' + enc(addr));
	} catch (e) {
		return h('div', { class: 'notice err', role: 'alert' }, e.message);
	}
	const panel = h('div', { class: 'stack', id: 'user-panel' });
	const reload = async () => {
		const fresh = await userPanel(addr, reloadList);
		mount(panel, ...fresh.childNodes);
		reloadList();
	};
	const del = h('button', { type: 'button', class: 'btn danger', onClick: async () => {
		if (!await confirmDialog({ title: `Delete ${u.address}?`, message: 'The account, its settings, lists and its quarantine are deleted.', confirm: 'Delete user' }))
			return;
		try {
			await api.del('/users/' + enc(u.address));
			toast(`User ${u.address} deleted`);
			navigate('users');
			reloadList();
		} catch (e) {
			toast(e.message, 'err');
		}
	} }, 'Delete user');
	const notice = flash && flash.address === u.address ? flash.node : null;
	flash = null;
	mount(panel, notice,
		h('div', { class: 'page-head' }, h('div', {}, h('h2', {}, u.address),
			h('p', { class: 'sub' }, `Created ${fmtTime(u.created_ms)} (${u.source}) · ${u.has_password ? 'has a password' : 'no password yet'} · ${u.quarantine_count} quarantined`)), del),
		h('div', { class: 'grid-2' }, featuresCard(u, reload), passwordCard(u)),
		await settingsCardFor('/users/' + enc(u.address), { who: u.address }),
		await listsBlock('/users/' + enc(u.address)),
		await quarantineCard(u));
	return panel;
}

export async function render(page, ctx) {
	const state = { q: '', feature: '', has_password: '', sort: 'address', offset: 0 };
	let open = ctx.rest[0] || null;
	const list = h('div');
	const panel = h('div');
	const load = async () => {
		const r = await api.get('/users' + query({ ...state, limit: LIMIT }));
		mount(list, table({
			columns: [{ label: 'Address' }, { label: 'Source' }, { label: 'Password' }, { label: 'Features' }, { label: 'Quarantined', num: true }, { label: 'Created' }, { label: 'Actions', sr: true, class: 'actions' }],
			rows: r.rows.map((u) => ({
				attrs: { class: u.address === open ? 'selected' : null, dataset: { user: u.address } },
				cells: [h('a', { href: '#/users/' + enc(u.address) }, u.address), badge(u.source, 'info'), u.has_password ? badge('set', 'ok') : badge('not set', 'warn'),
					featureBadges(u.features), String(u.quarantine_count), fmtTime(u.created_ms),
					h('a', { class: 'btn small', href: '#/users/' + enc(u.address) }, 'Edit')],
			})),
			empty: 'No user matches.', caption: 'Users',
		}), pager({ total: r.total, offset: state.offset, limit: LIMIT, onPage: (o) => { state.offset = o; load(); } }));
	};
	const q = field({ name: 'q', label: 'Address contains', type: 'search' });
	const feat = field({ name: 'feature', label: 'Feature', type: 'select', choices: [{ value: '', label: 'any' },
		{ value: 'quarantine_off', label: 'quarantine off' }, { value: 'scanning_off', label: 'scanning off' }, { value: 'settings_off', label: 'settings off' }] });
	const pw = field({ name: 'has_password', label: 'Password', type: 'select', choices: [{ value: '', label: 'any' }, { value: 'true', label: 'set' }, { value: 'false', label: 'not set' }] });
	const sort = field({ name: 'sort', label: 'Sort by', type: 'select', choices: [{ value: 'address', label: 'address' }, { value: 'created', label: 'newest first' }] });
	const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter users' }, q, feat, pw, sort);
	let t = null;
	const apply = () => {
		Object.assign(state, { q: q.input.value.trim(), feature: feat.input.value, has_password: pw.input.value, sort: sort.input.value, offset: 0 });
		load().catch((e) => toast(e.message, 'err'));
	};
	filters.addEventListener('submit', (ev) => { ev.preventDefault(); apply(); });
	filters.addEventListener('change', apply);
	q.input.addEventListener('input', () => { clearTimeout(t); t = setTimeout(apply, 250); });
	let seq = 0;
	const showPanel = async () => {
		const mine = ++seq;
		if (!open)
			return mount(panel);
		const content = await userPanel(open, load);
		if (mine !== seq)
			return;
		mount(panel, content);
		panel.scrollIntoView({ block: 'start' });
	};
	const addBox = addUserCard((u) => {
		addBox.hidden = true;
		if (u.link) {
			flash = { address: u.address, node: h('div', { class: 'notice ok', role: 'status' },
				u.link ? 'Set-password link (mailed to the user when mail delivery works): ' : '', h('div', { class: 'secret' }, u.link)) };
		}
		load();
		navigate('users/' + encodeURIComponent(u.address));
	}), impBox = importCard(load);
	addBox.hidden = impBox.hidden = true;
	const toggle = (box, other) => () => {
		box.hidden = !box.hidden;
		other.hidden = true;
		if (!box.hidden)
			box.querySelector('input').focus();
	};
	mount(page, pageHead('Users', 'Mail users with a quarantine and self-service preferences',
		h('button', { type: 'button', class: 'btn primary', onClick: toggle(addBox, impBox) }, 'Add user'),
		h('button', { type: 'button', class: 'btn', onClick: toggle(impBox, addBox) }, 'Import / export')),
	addBox, impBox,
	card('All users', null, filters, h('div', { class: 'stack' }, list)),
	panel);
	await load();
	await showPanel();
	return {
		update: async (rest) => {
			open = rest[0] || null;
			for (const tr of list.querySelectorAll('tr[data-user]'))
				tr.classList.toggle('selected', tr.dataset.user === open);
			await showPanel();
		},
	};
}
