// The user's quarantine inbox: search, sort, paging, deliver / delete one
// message or the selected ones (bulk). Opening a message goes to #/message/ID.
import { api, query } from '../api.js';
import { h, mount, fmtTime, fmtSize, scoreEl, toast, confirmDialog, busy } from '../dom.js';
import { pageHead, table, pager, card } from '../widgets.js';

const LIMIT = 25;
const SORTS = [
	{ value: 'time:desc', label: 'Newest first' }, { value: 'time:asc', label: 'Oldest first' },
	{ value: 'score:desc', label: 'Highest score' }, { value: 'from:asc', label: 'Sender' },
	{ value: 'subject:asc', label: 'Subject' }, { value: 'size:desc', label: 'Largest' },
];

export async function render(page, ctx) {
	if (ctx.session.features && ctx.session.features.quarantine === false) {
		mount(page, pageHead('Quarantine'), h('div', { class: 'notice info' },
			'Your quarantine is switched off: suspected spam is delivered to you with “[QUAR]:” in front of the subject.'));
		return;
	}
	const state = { q: '', sort: 'time:desc', offset: 0 };
	const selected = new Set();
	const list = h('div');
	const countEl = h('span', { class: 'muted small', 'aria-live': 'polite' });
	const bulkDeliver = h('button', { type: 'button', class: 'btn ok', disabled: true }, 'Deliver selected');
	const bulkDelete = h('button', { type: 'button', class: 'btn danger', disabled: true }, 'Delete selected');
	const syncBulk = () => {
		bulkDeliver.disabled = bulkDelete.disabled = selected.size === 0;
		countEl.textContent = selected.size ? `${selected.size} selected` : '';
	};
	const one = async (m, action) => {
		if (action === 'delete' && !await confirmDialog({ title: 'Delete this message?', message: `“${m.subject || '(no subject)'}” from ${m.mail_from || '<>'} is deleted for good.`, confirm: 'Delete' }))
			return;
		try {
			if (action === 'delete')
				await api.del('/me/quarantine/' + m.id);
			else
				await api.post(`/me/quarantine/${m.id}/deliver`, {});
			toast(action === 'delete' ? 'Message deleted' : 'Message delivered to your mailbox');
			selected.delete(m.id);
			load();
		} catch (e) {
			toast(e.message, 'err');
		}
	};
	const bulk = async (action) => {
		const ids = [...selected];
		const verb = action === 'delete' ? 'Delete' : 'Deliver';
		if (!await confirmDialog({ title: `${verb} ${ids.length} message(s)?`, message: action === 'delete' ? 'They are deleted for good.' : 'They are delivered to your mailbox.', confirm: verb, danger: action === 'delete' }))
			return;
		await busy(action === 'delete' ? bulkDelete : bulkDeliver, async () => {
			try {
				const r = await api.post('/me/quarantine/bulk', { action, ids });
				toast(`${r.done.length} message(s) ${action === 'delete' ? 'deleted' : 'delivered'}` + (r.failed.length ? `, ${r.failed.length} failed` : ''), r.failed.length ? 'err' : undefined);
				selected.clear();
				load();
			} catch (e) {
				toast(e.message, 'err');
			}
		});
	};
	bulkDeliver.addEventListener('click', () => bulk('deliver'));
	bulkDelete.addEventListener('click', () => bulk('delete'));
	const load = async () => {
		const [sort, order] = state.sort.split(':');
		const r = await api.get('/me/quarantine' + query({ q: state.q, sort, order, limit: LIMIT, offset: state.offset }));
		const all = h('input', { type: 'checkbox', 'aria-label': 'Select all messages on this page' });
		const boxes = [];
		const rows = r.rows.map((m) => {
			const box = h('input', { type: 'checkbox', 'aria-label': `Select “${m.subject || '(no subject)'}”`, checked: selected.has(m.id) });
			box.addEventListener('change', () => {
				if (box.checked)
					selected.add(m.id);
				else
					selected.delete(m.id);
				syncBulk();
			});
			boxes.push(box);
			return {
				attrs: { dataset: { id: m.id } },
				cells: [box, fmtTime(m.time_ms), m.mail_from || '<>', h('a', { href: '#/message/' + m.id }, m.subject || '(no subject)'), scoreEl(m.score), fmtSize(m.size),
					h('span', { class: 'btn-row' },
						h('button', { type: 'button', class: 'btn small ok', onClick: () => one(m, 'deliver') }, 'Deliver'),
						h('button', { type: 'button', class: 'btn small danger', onClick: () => one(m, 'delete') }, 'Delete'))],
			};
		});
		all.addEventListener('change', () => {
			for (const b of boxes) {
				b.checked = all.checked;
				b.dispatchEvent(new Event('change'));
			}
		});
		mount(list, table({
			columns: [{ label: 'Select', sr: true, class: 'check' }, { label: 'Received', class: 'nowrap' }, { label: 'From', class: 'trunc' }, { label: 'Subject' },
				{ label: 'Score', num: true }, { label: 'Size', num: true }, { label: 'Actions', sr: true, class: 'actions' }],
			rows, empty: state.q ? 'No message matches your search.' : 'Your quarantine is empty. Nothing was held back.', caption: 'Quarantined messages',
		}), pager({ total: r.total, offset: state.offset, limit: LIMIT, onPage: (o) => { state.offset = o; load(); } }));
		const th = list.querySelector('th.check');
		if (th && r.rows.length)
			mount(th, all);
		syncBulk();
	};
	const search = h('input', { type: 'search', name: 'q', placeholder: 'Search sender or subject', 'aria-label': 'Search sender or subject', class: 'grow' });
	const sort = h('select', { name: 'sort', 'aria-label': 'Sort by' }, SORTS.map((s) => h('option', { value: s.value }, s.label)));
	let t = null;
	search.addEventListener('input', () => {
		clearTimeout(t);
		t = setTimeout(() => { state.q = search.value.trim(); state.offset = 0; load(); }, 250);
	});
	sort.addEventListener('change', () => { state.sort = sort.value; state.offset = 0; load(); });
	const refresh = h('button', { type: 'button', class: 'btn', onClick: () => load() }, 'Refresh');
	mount(page, pageHead('Quarantine', `Mail held back for ${ctx.session.user}. Deliver what you want, delete the rest; old messages are removed automatically.`, refresh),
		card('Held-back messages', null,
			h('div', { class: 'toolbar' }, search, h('div', { class: 'sort' }, sort)),
			h('div', { class: 'toolbar' }, bulkDeliver, bulkDelete, countEl),
			list));
	await load();
	return () => clearTimeout(t);
}
