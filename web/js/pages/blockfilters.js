// BLOCK/ACCEPT tabs beside the policy lists: content filters (subject /
// header / body patterns), DNS blocklists (DNSBL + URIBL zones), spam
// fingerprints and the "why was this blocked?" check.
import { api, enc, query } from '../api.js';
import { h, mount, fmtTime, badge, toast, confirmDialog, busy, clearErrors, fieldError, showApiError } from '../dom.js';
import { field } from '../forms.js';
import { table, pager, card } from '../widgets.js';

function removeButton(label, what, fn) {
	return h('button', {
		type: 'button', class: 'btn small danger', 'aria-label': `Remove ${label}`, onClick: async () => {
			if (!await confirmDialog({ title: `Remove ${label}?`, message: what, confirm: 'Remove' }))
				return;
			try {
				await fn();
				toast(`${label} removed`);
			} catch (e) {
				toast(e.message, 'err');
			}
		},
	}, 'Remove');
}

// ---- content filters ------------------------------------------------------------

export async function filtersTab(body) {
	const list = h('div');
	const target = field({ name: 'target', label: 'Where', type: 'select', choices: [
		{ value: 'subject', label: 'Subject' }, { value: 'header', label: 'Any header' },
		{ value: 'header:', label: 'One header…' }, { value: 'body', label: 'Body text' }] });
	const hname = field({ name: 'header_name', label: 'Header name', placeholder: 'X-Mailer' });
	hname.hidden = true;
	const pattern = field({ name: 'pattern', label: 'Pattern (PCRE, case-insensitive)', placeholder: 'viagra|cialis' });
	const action = field({ name: 'action', label: 'Action', type: 'select', choices: ['block', 'quarantine', 'tag', 'allow'] });
	const comment = field({ name: 'comment', label: 'Comment', placeholder: 'optional' });
	const save = h('button', { type: 'submit', class: 'btn primary' }, 'Add filter');
	const cancel = h('button', { type: 'button', class: 'btn', hidden: true }, 'Cancel');
	let editing = null;
	const form = h('form', { class: 'inline-form', novalidate: true, 'aria-label': 'Content filter' },
		target, hname, pattern, action, comment, save, cancel, h('div', { class: 'form-error', role: 'alert' }));
	target.input.addEventListener('change', () => { hname.hidden = target.input.value !== 'header:'; });
	const resetForm = () => {
		editing = null;
		form.reset();
		hname.hidden = true;
		save.textContent = 'Add filter';
		cancel.hidden = true;
		clearErrors(form);
	};
	cancel.addEventListener('click', resetForm);
	const edit = (f) => {
		editing = f.id;
		const named = f.target.startsWith('header:');
		target.input.value = named ? 'header:' : f.target;
		hname.hidden = !named;
		hname.input.value = named ? f.target.slice(7) : '';
		pattern.input.value = f.pattern;
		action.input.value = f.action;
		comment.input.value = f.comment || '';
		save.textContent = 'Save filter ' + f.id;
		cancel.hidden = false;
		pattern.input.focus();
	};
	const load = async () => {
		const r = await api.get('/filters');
		mount(list, table({
			columns: [{ label: 'ID' }, { label: 'Where' }, { label: 'Pattern' }, { label: 'Action' }, { label: 'Comment' }, { label: 'Actions', sr: true, class: 'actions' }],
			rows: r.rows.map((f) => [h('code', {}, f.id), f.target, h('code', {}, f.pattern), badge(f.action), f.comment,
				h('span', { class: 'btn-row' }, h('button', { type: 'button', class: 'btn small', onClick: () => edit(f) }, 'Edit'),
					removeButton(`filter ${f.id}`, 'The filter stops applying at once.', async () => { await api.del('/filters/' + enc(f.id)); load(); }))]),
			empty: 'No content filter yet.', caption: 'Content filters',
		}));
	};
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		let t = target.input.value;
		if (t === 'header:') {
			if (!hname.input.value.trim())
				return fieldError(form, 'header_name', 'Enter the header name');
			t += hname.input.value.trim();
		}
		if (!pattern.input.value)
			return fieldError(form, 'pattern', 'Enter a pattern');
		busy(save, async () => {
			const f = { target: t, pattern: pattern.input.value, action: action.input.value, comment: comment.input.value };
			try {
				if (editing)
					await api.put('/filters/' + enc(editing), f);
				else
					await api.post('/filters', f);
				toast(editing ? `Filter ${editing} saved` : 'Filter added');
				resetForm();
				load();
			} catch (e) {
				showApiError(form, e.field === 'target' && t.startsWith('header:') ? { ...e, message: e.message, field: 'header_name' } : e);
			}
		});
	});
	mount(body, card('Content filters', 'Regular expressions on the subject, the headers or the body text; the first matching filter decides.', form, h('div', { class: 'stack' }, list)));
	await load();
}

// ---- DNS blocklists ---------------------------------------------------------------

function zoneCard(kind, title, desc) {
	const list = h('div');
	const zone = field({ name: 'zone', label: 'Zone', placeholder: kind === 'dnsbl' ? 'zen.example.org' : 'uribl.example.org' });
	const action = field({ name: 'action', label: 'Action', type: 'select', choices: ['block', 'quarantine', 'tag', 'score'], class: 'narrow' });
	const score = field({ name: 'score', label: 'Score', type: 'number', step: 'any', placeholder: 'with action score', class: 'narrow' });
	const codes = field({ name: 'codes', label: 'Answer codes', placeholder: '127.0.0.2, 127.0.0.3 (blank: any)' });
	const mask = field({ name: 'mask', label: 'Bit mask', type: 'number', min: 1, max: 255, placeholder: 'optional', class: 'narrow' });
	const save = h('button', { type: 'submit', class: 'btn primary' }, 'Add / replace');
	const form = h('form', { class: 'inline-form', novalidate: true, 'aria-label': title }, zone, action, score, codes, mask, save,
		h('div', { class: 'form-error', role: 'alert' }));
	const load = async () => {
		const zones = await api.get('/' + kind);
		mount(list, table({
			columns: [{ label: 'Zone' }, { label: 'Action' }, { label: 'Score', num: true }, { label: 'Codes' }, { label: 'Mask', num: true }, { label: 'Actions', sr: true, class: 'actions' }],
			rows: zones.map((z) => [h('code', {}, z.zone), badge(z.action === 'score' ? 'tag' : z.action, z.action), z.score ?? '', (z.codes || []).join(', '), z.mask ?? '',
				removeButton(z.zone, 'Mail is no longer checked against this zone.', async () => { await api.del(`/${kind}/${enc(z.zone)}`); load(); })]),
			empty: 'No zone configured.', caption: title,
		}));
	};
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		const name = zone.input.value.trim();
		if (!name)
			return fieldError(form, 'zone', 'Enter a DNS zone');
		const z = { action: action.input.value };
		if (score.input.value !== '')
			z.score = Number(score.input.value);
		else if (z.action === 'score')
			return fieldError(form, 'score', 'Enter the score this zone adds');
		const c = codes.input.value.split(/[\s,]+/).filter(Boolean);
		if (c.length)
			z.codes = c;
		if (mask.input.value !== '')
			z.mask = Number(mask.input.value);
		busy(save, async () => {
			try {
				await api.put(`/${kind}/${enc(name)}`, z);
				toast(`${name} saved`);
				form.reset();
				load();
			} catch (e) {
				showApiError(form, e);
			}
		});
	});
	const c = card(title, desc, form, h('div', { class: 'stack' }, list));
	c.load = load;
	return c;
}

export async function dnsTab(body) {
	const a = zoneCard('dnsbl', 'DNSBL zones', 'The client address (and optionally Received: addresses) is looked up in these zones.');
	const b = zoneCard('uribl', 'URIBL zones', 'Host names of links in the message are looked up in these zones.');
	mount(body, h('div', { class: 'stack' }, a, b));
	await Promise.all([a.load(), b.load()]);
}

// ---- fingerprints ---------------------------------------------------------------------

export async function fingerprintsTab(body) {
	const list = h('div');
	const state = { offset: 0 };
	const load = async () => {
		const r = await api.get('/fingerprints' + query({ limit: 50, offset: state.offset }));
		mount(list, table({
			columns: [{ label: 'ID', num: true }, { label: 'Added' }, { label: 'Subject' }, { label: 'Note' }, { label: 'Features', num: true }, { label: 'Actions', sr: true, class: 'actions' }],
			rows: r.rows.map((f) => [String(f.id), fmtTime(f.created_ms), f.subject, f.note, String(f.features),
				removeButton(`fingerprint ${f.id}`, 'Similar messages no longer get the fingerprint score.', async () => { await api.del('/fingerprints/' + f.id); load(); })]),
			empty: 'No fingerprint yet. Messages an administrator classifies as spam are added here.', caption: 'Fingerprints',
		}), r.total > 50 ? pager({ total: r.total, offset: state.offset, limit: 50, onPage: (o) => { state.offset = o; load(); } }) : null);
	};
	mount(body, card('Spam fingerprints', 'Near-duplicates of these messages get the fingerprint score (setting fingerprint_score). Node-local.', list));
	await load();
}

// ---- check ---------------------------------------------------------------------------------

export async function checkTab(body) {
	const f = {
		ip: field({ name: 'ip', label: 'Client IP', placeholder: '192.0.2.1' }),
		sender: field({ name: 'sender', label: 'Sender', placeholder: 'someone@example.org' }),
		rcpt: field({ name: 'rcpt', label: 'Recipient', placeholder: 'user@example.com' }),
		filename: field({ name: 'filename', label: 'Attachment name', placeholder: 'invoice.exe' }),
		type: field({ name: 'type', label: 'Attachment type', placeholder: 'application/zip' }),
	};
	const go = h('button', { type: 'submit', class: 'btn primary' }, 'Check');
	const out = h('div');
	const form = h('form', { novalidate: true, 'aria-label': 'Check the lists' }, h('div', { class: 'filters' }, Object.values(f)),
		h('div', { class: 'form-actions' }, go), h('div', { class: 'form-error', role: 'alert' }));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		const q = {};
		for (const [k, x] of Object.entries(f))
			q[k] = x.input.value.trim();
		busy(go, async () => {
			try {
				const r = await api.get('/policy/check' + query(q));
				mount(out, table({
					columns: [{ label: 'Input' }, { label: 'Decided by' }, { label: 'Action' }, { label: 'Comment' }],
					rows: Object.entries(r).map(([k, v]) => [k, v ? h('span', {}, h('code', {}, v.entry), ' in ', v.list) : h('span', { class: 'muted' }, 'no entry'),
						v ? badge(v.action || 'allow') : '', v ? v.comment : '']),
					empty: 'Enter at least one input.',
				}));
			} catch (e) {
				showApiError(form, e);
			}
		});
	});
	mount(body, card('Why was this blocked?', 'Shows which list entry decides for an address, a sender, a recipient or an attachment.', form, h('div', { class: 'stack' }, out)));
}
