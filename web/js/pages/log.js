// Message log: search (time, sender, recipient, subject, client IP,
// action, score), paging, details with the message view and the classify
// buttons Spam / Not spam / Whitelist / Deliver. #/log/ID opens a detail.
import { api, query } from '../api.js';
import { h, mount, fmtTimeSec, fmtSize, scoreEl, badge, toast, confirmDialog, busy, clearErrors, fieldError, showApiError } from '../dom.js';
import { field } from '../forms.js';
import { pageHead, table, pager, ACTIONS } from '../widgets.js';
import { messageView } from '../message.js';
import { navigate } from '../shell.js';

const LIMIT = 50;

function toMs(v) {
	if (!v)
		return '';
	const t = new Date(v).getTime();
	return Number.isFinite(t) ? t : NaN;
}

function filterForm(state, onSearch) {
	const f = {
		since: field({ name: 'since', label: 'From (time)', type: 'datetime-local', value: state.sinceText }),
		until: field({ name: 'until', label: 'Until (time)', type: 'datetime-local', value: state.untilText }),
		sender: field({ name: 'sender', label: 'Sender', type: 'search', value: state.sender, placeholder: 'part of the address' }),
		rcpt: field({ name: 'rcpt', label: 'Recipient', type: 'search', value: state.rcpt, placeholder: 'part of the address' }),
		subject: field({ name: 'subject', label: 'Subject', type: 'search', value: state.subject, placeholder: 'part of the subject' }),
		client_ip: field({ name: 'client_ip', label: 'Client IP', type: 'search', value: state.client_ip, placeholder: '192.0.2.1 or 192.0.2.0/24' }),
		action: field({ name: 'action', label: 'Action', type: 'select', value: state.action, choices: [{ value: '', label: 'any' }, ...ACTIONS] }),
		min_score: field({ name: 'min_score', label: 'Score at least', type: 'number', step: 'any', value: state.min_score, inputmode: 'decimal' }),
	};
	const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Search');
	const reset = h('button', { type: 'button', class: 'btn' }, 'Clear');
	const form = h('form', { class: 'card', novalidate: true, role: 'search', 'aria-label': 'Search the message log' },
		h('div', { class: 'filters' }, Object.values(f)),
		h('div', { class: 'form-actions' }, submit, reset, h('div', { class: 'form-error', role: 'alert' })));
	reset.addEventListener('click', () => {
		for (const x of Object.values(f))
			x.input.value = '';
		form.requestSubmit();
	});
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		const since = toMs(f.since.input.value), until = toMs(f.until.input.value);
		if (Number.isNaN(since))
			return fieldError(form, 'since', 'Enter a date and time');
		if (Number.isNaN(until))
			return fieldError(form, 'until', 'Enter a date and time');
		if (f.min_score.input.validity.badInput)
			return fieldError(form, 'min_score', 'Enter a number');
		Object.assign(state, {
			sinceText: f.since.input.value, untilText: f.until.input.value, since, until,
			sender: f.sender.input.value.trim(), rcpt: f.rcpt.input.value.trim(), subject: f.subject.input.value.trim(),
			client_ip: f.client_ip.input.value.trim(), action: f.action.input.value, min_score: f.min_score.input.value, offset: 0,
		});
		busy(submit, () => onSearch().catch((e) => showApiError(form, e)));
	});
	return form;
}

function rowOf(r, selected) {
	const open = h('button', { type: 'button', class: 'linkish', onClick: () => navigate('log/' + r.id) }, r.subject || '(no subject)');
	return {
		attrs: { class: ['clickable', selected && 'selected'], dataset: { id: r.id } },
		cells: [fmtTimeSec(r.time_ms), r.mail_from || '<>', r.rcpts.join(', '), open, scoreEl(r.score), badge(r.action),
			r.delivery ? badge(r.delivery, r.delivery) : '', r.client_ip],
	};
}

const COLUMNS = [{ label: 'Time', class: 'nowrap' }, { label: 'Sender', class: 'trunc' }, { label: 'Recipients', class: 'trunc' },
	{ label: 'Subject', class: 'trunc' }, { label: 'Score', num: true }, { label: 'Action' }, { label: 'Delivery' }, { label: 'Client IP', class: 'nowrap' }];

async function classify(id, body, btn, what) {
	await busy(btn, async () => {
		try {
			const r = await api.post(`/log/${id}/classify`, body);
			toast(r.learned ? `Learned as ${what}` : `Already learned as ${what}`);
		} catch (e) {
			toast(e.message, 'err');
		}
	});
}

function actionButtons(row, reload) {
	const spam = h('button', { type: 'button', class: 'btn danger', disabled: !row.stored }, 'Spam');
	const ham = h('button', { type: 'button', class: 'btn', disabled: !row.stored }, 'Not spam');
	const white = h('button', { type: 'button', class: 'btn', disabled: !row.mail_from }, 'Whitelist sender');
	const deliver = h('button', { type: 'button', class: 'btn ok', disabled: !(row.quarantine_ids || []).length }, 'Deliver');
	spam.addEventListener('click', () => classify(row.id, { as: 'spam' }, spam, 'spam'));
	ham.addEventListener('click', () => classify(row.id, { as: 'ham' }, ham, 'not spam'));
	white.addEventListener('click', async () => {
		if (!await confirmDialog({ title: 'Whitelist this sender?', message: `Mail from ${row.mail_from} will skip spam scoring for every recipient (global sender allow list).`, confirm: 'Whitelist', danger: false }))
			return;
		await busy(white, async () => {
			try {
				const r = await api.post(`/log/${row.id}/whitelist`, {});
				toast(`${r.whitelisted} added to the sender allow list`);
			} catch (e) {
				toast(e.message, 'err');
			}
		});
	});
	deliver.addEventListener('click', async () => {
		if (!await confirmDialog({ title: 'Deliver this message?', message: 'Every quarantined copy is released to its recipient.', confirm: 'Deliver', danger: false }))
			return;
		await busy(deliver, async () => {
			try {
				const r = await api.post(`/log/${row.id}/deliver`, {});
				toast(`Released ${r.delivered.length} quarantined cop${r.delivered.length === 1 ? 'y' : 'ies'} for delivery`);
				reload();
			} catch (e) {
				toast(e.message, 'err');
			}
		});
	});
	const notStored = row.stored ? null : h('span', { class: 'muted small' }, 'The message body is no longer stored on this node.');
	return h('div', { class: 'msg-actions', role: 'group', 'aria-label': 'Classify' }, spam, ham, white, deliver, notStored);
}

async function detail(id, close, reload) {
	const row = await api.get('/log/' + encodeURIComponent(id));
	const kv = h('dl', { class: 'kv' });
	const add = (k, v) => v !== '' && v !== null && v !== undefined && kv.append(h('dt', {}, k), h('dd', {}, v));
	add('Time', `${fmtTimeSec(row.time_ms)} (${row.time})`);
	add('Sender', row.mail_from || '<>');
	add('Recipients', row.rcpts.join(', '));
	add('Subject', row.subject);
	add('Action', h('span', {}, badge(row.action), ' ', row.delivery ? badge(row.delivery, row.delivery) : ''));
	add('Score', scoreEl(row.score));
	add('Rules', row.rules.length ? h('div', { class: 'chips' }, row.rules.map((x) => h('span', { class: 'chip' }, x))) : '');
	add('Reason', [row.layer ? `[${row.layer}] ` : '', row.reason].join(''));
	add('Client', `${row.client_ip} (HELO ${row.helo})`);
	add('Size', fmtSize(row.size));
	add('Message-ID', row.message_id);
	add('Queue ID', row.queue_id ? h('code', {}, row.queue_id) : '');
	add('Node', row.node);
	const viewBox = h('div');
	const title = h('h2', { tabindex: '-1' }, row.subject || '(no subject)');
	const card = h('div', { 'data-testid': 'log-detail' },
		h('div', { class: 'card-head drawer-head' }, title,
			h('button', { type: 'button', class: 'btn small', onClick: close, 'aria-label': 'Close the details' }, 'Close')),
		kv, actionButtons(row, reload), viewBox);
	card.headEl = title;
	if (row.stored) {
		api.get(`/log/${row.id}/message`).then((v) => mount(viewBox, messageView(`/log/${row.id}`, v)))
			.catch((e) => mount(viewBox, h('div', { class: 'notice warn' }, e.message)));
	}
	return card;
}

export async function render(page, ctx) {
	const state = { offset: 0, sender: '', rcpt: '', subject: '', client_ip: '', action: '', min_score: '', sinceText: '', untilText: '' };
	let openId = ctx.rest[0] || null;
	const detailBox = h('aside', { class: 'drawer', 'aria-label': 'Message details', hidden: true });
	const results = h('div');
	let searchSeq = 0;
	const search = async () => {
		const mine = ++searchSeq;
		const q = query({ since: state.since, until: state.until, sender: state.sender, rcpt: state.rcpt, subject: state.subject,
			client_ip: state.client_ip, action: state.action, min_score: state.min_score, limit: LIMIT, offset: state.offset });
		const r = await api.get('/log' + q);
		if (mine !== searchSeq)
			return; // a newer search is on its way
		mount(results,
			table({ columns: COLUMNS, rows: r.rows.map((x) => rowOf(x, String(x.id) === String(openId))), empty: 'No message matches.', caption: 'Messages' }),
			pager({ total: r.total, offset: state.offset, limit: LIMIT, onPage: (o) => { state.offset = o; search(); } }));
	};
	const close = () => navigate('log');
	let seq = 0;
	const showDetail = async () => {
		const mine = ++seq;
		if (!openId) {
			detailBox.hidden = true;
			return mount(detailBox);
		}
		try {
			const d = await detail(openId, close, () => { search(); showDetail(); });
			if (mine !== seq)
				return;
			mount(detailBox, d);
			detailBox.hidden = false;
			detailBox.scrollTop = 0;
			d.headEl.focus({ preventScroll: true });
		} catch (e) {
			if (mine !== seq)
				return;
			detailBox.hidden = false;
			mount(detailBox, h('div', { class: 'notice err', role: 'alert' }, `Message ${openId}: ${e.message}`));
		}
	};
	const refresh = h('button', { type: 'button', class: 'btn', onClick: () => search() }, 'Refresh');
	mount(page, pageHead('Message log', 'Every message the gateway received, with its verdict', refresh),
		filterForm(state, search), detailBox, results);
	const onKey = (ev) => {
		if (ev.key === 'Escape' && openId && !document.querySelector('dialog[open]'))
			close();
	};
	document.addEventListener('keydown', onKey);
	await Promise.all([search(), showDetail()]);
	return {
		cleanup: () => document.removeEventListener('keydown', onKey),
		update: (rest) => {
			openId = rest[0] || null;
			for (const tr of results.querySelectorAll('tr[data-id]'))
				tr.classList.toggle('selected', tr.dataset.id === String(openId));
			showDetail();
		},
	};
}
