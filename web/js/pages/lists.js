// BLOCK/ACCEPT: the policy lists (IP, sender, recipient, attachment), plus
// content filters, DNS blocklists, fingerprints and the "why?" check
// (those live in blockfilters.js).
import { api, enc, query } from '../api.js';
import { h, mount, badge, toast, confirmDialog, busy, clearErrors, fieldError, showApiError } from '../dom.js';
import { field } from '../forms.js';
import { pageHead, subnav, table, pager } from '../widgets.js';
import { filtersTab, dnsTab, fingerprintsTab, checkTab } from './blockfilters.js';

const GROUPS = {
	ip: { label: 'IP addresses', lists: ['ip_allow', 'ip_block'], placeholder: '192.0.2.0/24 or 2001:db8::/32' },
	sender: { label: 'Senders', lists: ['sender_allow', 'sender_block'], placeholder: 'user@example.org or example.org' },
	rcpt: { label: 'Recipients', lists: ['rcpt_allow', 'rcpt_block'], placeholder: 'user@example.com or example.com' },
	attach: { label: 'Attachments', lists: ['attach_ext', 'attach_mime'], placeholder: { attach_ext: 'exe', attach_mime: 'application/x-msdownload' } },
};

const TITLES = {
	ip_allow: 'Allowed IP addresses', ip_block: 'Blocked IP addresses',
	sender_allow: 'Allowed senders', sender_block: 'Blocked senders',
	rcpt_allow: 'Recipients not scored', rcpt_block: 'Blocked recipients',
	attach_ext: 'Blocked file extensions', attach_mime: 'Blocked MIME types',
};

const PAGE = 50;

function listCard(meta, group) {
	const state = { q: '', offset: 0 };
	const results = h('div');
	const isBlock = Boolean(meta.actions);
	const ph = typeof group.placeholder === 'object' ? group.placeholder[meta.name] : group.placeholder;
	const entry = field({ name: 'entry', label: 'Entry', placeholder: ph });
	const action = isBlock ? field({ name: 'action', label: 'Action', type: 'select', choices: meta.actions.split('|'), class: 'narrow' }) : null;
	const comment = field({ name: 'comment', label: 'Comment', placeholder: 'optional' });
	const add = h('button', { type: 'submit', class: 'btn primary' }, 'Add');
	const form = h('form', { class: 'inline-form', novalidate: true, 'aria-label': `Add to ${TITLES[meta.name]}` },
		entry, action, comment, add, h('div', { class: 'form-error', role: 'alert' }));
	const search = h('input', { type: 'search', name: 'q', placeholder: 'Filter entries', 'aria-label': `Filter ${TITLES[meta.name]}` });
	const load = async () => {
		const r = await api.get(`/lists/${meta.name}` + query({ q: state.q, limit: PAGE, offset: state.offset }));
		const rows = r.rows.map((e) => [h('code', {}, e.entry), isBlock ? badge(e.action || 'block') : null, e.comment,
			h('button', { type: 'button', class: 'btn small danger', 'aria-label': `Remove ${e.entry}`, onClick: () => remove(e) }, 'Remove')].filter((c) => c !== null));
		const cols = [{ label: 'Entry' }, isBlock ? { label: 'Action' } : null, { label: 'Comment' }, { label: 'Actions', sr: true, class: 'actions' }].filter(Boolean);
		mount(results, table({ columns: cols, rows, empty: state.q ? 'No entry matches.' : 'The list is empty.', caption: TITLES[meta.name] }),
			r.total > PAGE ? pager({ total: r.total, offset: state.offset, limit: PAGE, onPage: (o) => { state.offset = o; load(); } }) : null);
	};
	const remove = async (e) => {
		if (!await confirmDialog({ title: `Remove ${e.entry}?`, message: `It is removed from “${TITLES[meta.name]}”.`, confirm: 'Remove' }))
			return;
		try {
			await api.del(`/lists/${meta.name}/${enc(e.entry)}`);
			toast(`${e.entry} removed`);
			load();
		} catch (err) {
			toast(err.message, 'err');
		}
	};
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		if (!entry.input.value.trim())
			return fieldError(form, 'entry', 'Enter an entry');
		busy(add, async () => {
			try {
				const body = { entry: entry.input.value.trim(), comment: comment.input.value };
				if (action)
					body.action = action.input.value;
				const r = await api.post(`/lists/${meta.name}`, body);
				toast(`${r.entry} added to ${TITLES[meta.name].toLowerCase()}`);
				entry.input.value = '';
				comment.input.value = '';
				load();
			} catch (err) {
				showApiError(form, err);
			}
		});
	});
	let t = null;
	search.addEventListener('input', () => {
		clearTimeout(t);
		t = setTimeout(() => { state.q = search.value.trim(); state.offset = 0; load(); }, 250);
	});
	const card = h('section', { class: 'card', 'data-list': meta.name },
		h('div', { class: 'card-head' }, h('div', {}, h('h2', {}, TITLES[meta.name]), h('p', { class: 'desc' }, meta.help)), search),
		form, h('div', { class: 'stack' }, results));
	card.load = load;
	return card;
}

async function listsTab(body, name) {
	const group = GROUPS[name];
	const all = await api.get('/lists');
	const cards = group.lists.map((n) => listCard(all.rows.find((r) => r.name === n), group));
	mount(body, h('div', { class: 'grid-2 lists' }, cards));
	await Promise.all(cards.map((c) => c.load()));
}

const TABS = [
	{ name: 'ip', label: 'IP addresses' },
	{ name: 'sender', label: 'Senders' },
	{ name: 'rcpt', label: 'Recipients' },
	{ name: 'attach', label: 'Attachments' },
	{ name: 'filters', label: 'Content filters' },
	{ name: 'dns', label: 'DNS blocklists' },
	{ name: 'fingerprints', label: 'Fingerprints' },
	{ name: 'check', label: 'Check' },
];

const OTHER = { filters: filtersTab, dns: dnsTab, fingerprints: fingerprintsTab, check: checkTab };

export async function render(page, ctx) {
	let body = h('div');
	const show = async (rest) => {
		body = h('div'); // a fresh one: late renders of the previous tab land nowhere
		const tab = TABS.some((t) => t.name === rest[0]) ? rest[0] : 'ip';
		mount(page, pageHead('Block/Accept', 'Lists and filters applied before and beside spam scoring'),
			subnav('lists', TABS, tab, 'Block/Accept sections'), body);
		mount(body, h('div', { class: 'loading' }, 'Loading…'));
		if (GROUPS[tab])
			await listsTab(body, tab);
		else
			await OTHER[tab](body);
	};
	await show(ctx.rest);
	return { update: (rest) => show(rest).catch((e) => mount(body, h('div', { class: 'notice err' }, e.message))) };
}

