// One quarantined message of the user (#/message/ID): details, safe view
// (text as text, sanitised HTML in a sandboxed frame, source), and the
// actions deliver, whitelist sender + deliver, delete, spam / not spam.
import { api } from '../api.js';
import { h, mount, fmtTimeSec, fmtSize, scoreEl, toast, confirmDialog, busy } from '../dom.js';
import { messageView } from '../message.js';
import { navigate } from '../shell.js';

function actions(m, base) {
	const deliver = h('button', { type: 'button', class: 'btn ok' }, 'Deliver');
	const white = h('button', { type: 'button', class: 'btn' }, 'Whitelist sender and deliver');
	const spam = h('button', { type: 'button', class: 'btn' }, 'Spam');
	const ham = h('button', { type: 'button', class: 'btn' }, 'Not spam');
	const del = h('button', { type: 'button', class: 'btn danger' }, 'Delete');
	deliver.addEventListener('click', () => busy(deliver, async () => {
		try {
			await api.post(base + '/deliver', {});
			toast('Message delivered to your mailbox');
			navigate('quarantine');
		} catch (e) {
			toast(e.message, 'err');
		}
	}));
	white.addEventListener('click', async () => {
		if (!await confirmDialog({ title: 'Whitelist this sender?', message: `Mail from ${m.mail_from} will no longer be held back, and this message is delivered.`, confirm: 'Whitelist and deliver', danger: false }))
			return;
		await busy(white, async () => {
			try {
				const r = await api.post(base + '/whitelist', {});
				toast(`${r.whitelisted} whitelisted; message delivered`);
				navigate('quarantine');
			} catch (e) {
				toast(e.message, 'err');
			}
		});
	});
	const learn = (btn, as) => busy(btn, async () => {
		try {
			const r = await api.post(base + '/classify', { as });
			toast(r.learned ? `Thanks: learned as ${as === 'spam' ? 'spam' : 'not spam'}` : 'Already learned that way');
		} catch (e) {
			toast(e.message, 'err');
		}
	});
	spam.addEventListener('click', () => learn(spam, 'spam'));
	ham.addEventListener('click', () => learn(ham, 'ham'));
	del.addEventListener('click', async () => {
		if (!await confirmDialog({ title: 'Delete this message?', message: 'It is deleted for good.', confirm: 'Delete' }))
			return;
		await busy(del, async () => {
			try {
				await api.del(base);
				toast('Message deleted');
				navigate('quarantine');
			} catch (e) {
				toast(e.message, 'err');
			}
		});
	});
	if (!m.mail_from)
		white.disabled = true;
	return h('div', { class: 'msg-actions', role: 'group', 'aria-label': 'Message actions' }, deliver, white, spam, ham, h('span', { class: 'spacer' }), del);
}

export async function render(page, ctx) {
	const id = ctx.rest[0];
	const back = h('a', { class: 'back-link', href: '#/quarantine' }, '← Back to the quarantine');
	if (!/^\d+$/.test(id || '')) {
		mount(page, back, h('div', { class: 'notice err', role: 'alert' }, 'No such message.'));
		return;
	}
	const base = '/me/quarantine/' + id;
	let m;
	try {
		m = await api.get(base);
	} catch (e) {
		if (e.status !== 404 && e.status !== 410)
			throw e;
		mount(page, back, h('div', { class: 'notice err', role: 'alert', 'data-testid': 'message-missing' },
			'This message does not exist or is no longer in your quarantine.'));
		return;
	}
	const kv = h('dl', { class: 'kv' },
		h('dt', {}, 'Envelope sender'), h('dd', {}, m.mail_from || '<>'),
		h('dt', {}, 'Recipient'), h('dd', {}, m.rcpt),
		h('dt', {}, 'Received'), h('dd', {}, fmtTimeSec(m.time_ms)),
		h('dt', {}, 'Spam score'), h('dd', {}, scoreEl(m.score), m.reason ? h('span', { class: 'muted' }, ` — ${m.reason}`) : null),
		h('dt', {}, 'Size'), h('dd', {}, fmtSize(m.size)));
	document.title = (m.subject || 'Message') + ' — rampart';
	mount(page, back,
		h('section', { class: 'card' },
			h('div', { class: 'card-head' }, h('h1', {}, m.subject || '(no subject)')),
			kv, actions(m, base), messageView(base, m)));
}
