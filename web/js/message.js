// Safe message viewer shared by the admin log and the user quarantine.
// Text is shown as text (textContent of a <pre>); the HTML part is never
// inserted into this page: it is loaded from the API's sanitised-HTML
// endpoint into an <iframe sandbox> without allow-scripts and without
// allow-same-origin (the endpoint adds its own strict CSP + sandbox).
import { api } from './api.js';
import { h, mount, fmtSize } from './dom.js';

const HEADERS = [['from', 'From'], ['to', 'To'], ['cc', 'Cc'], ['date', 'Date'], ['subject', 'Subject'], ['message_id', 'Message-ID']];

function headerList(hd) {
	const dl = h('dl', { class: 'kv' });
	for (const [k, label] of HEADERS) {
		if (hd && hd[k])
			dl.append(h('dt', {}, label), h('dd', {}, hd[k]));
	}
	return dl;
}

// base: API path of the message ('/log/7', '/me/quarantine/3', '/quarantine/3');
// view: the §6.3 object (headers, text, has_html, attachments, truncated).
export function messageView(base, view) {
	const panes = {};
	const body = h('div', { class: 'msg-body' });
	const tabs = [];
	const select = async (name) => {
		for (const t of tabs)
			t.setAttribute('aria-selected', String(t.dataset.pane === name));
		if (!panes[name])
			panes[name] = await PANES[name]();
		mount(body, panes[name]);
	};
	const PANES = {
		text: async () => h('div', {},
			view.truncated ? h('div', { class: 'preview-note' }, 'The text is cut short (it is longer than 1 MiB).') : null,
			h('pre', { class: 'msg-text', 'data-testid': 'message-text' }, view.text || '(no text)')),
		html: async () => h('div', {},
			h('div', { class: 'preview-note' }, 'Sanitised preview: scripts, forms and remote content are removed; links open in a new tab.'),
			h('iframe', {
				class: 'msg-html', src: '/api/v1' + base + '/html', sandbox: 'allow-popups allow-popups-to-escape-sandbox',
				referrerpolicy: 'no-referrer', title: 'HTML preview of the message (sanitised)',
			})),
		source: async () => {
			try {
				const src = await api.get(base + '/source', { text: true });
				return h('pre', { class: 'msg-source', 'data-testid': 'message-source' }, src);
			} catch (e) {
				return h('div', { class: 'notice err' }, e.message);
			}
		},
	};
	const names = [['text', 'Text'], view.has_html ? ['html', 'HTML preview'] : null, ['source', 'Source']].filter(Boolean);
	for (const [name, label] of names) {
		const b = h('button', { type: 'button', role: 'tab', 'aria-selected': 'false', dataset: { pane: name } }, label);
		b.addEventListener('click', () => select(name));
		tabs.push(b);
	}
	const att = view.attachments && view.attachments.length
		? h('div', {}, h('h3', {}, 'Attachments'), h('ul', { class: 'attachments' }, view.attachments.map((a) =>
			h('li', {}, a.filename || '(no name)', h('span', { class: 'muted' }, ` · ${a.content_type} · ${fmtSize(a.size)}`)))))
		: null;
	const el = h('div', { class: 'message-view' }, headerList(view.headers), att,
		h('div', { class: 'msg-tabs', role: 'tablist', 'aria-label': 'Message views' }, tabs), body);
	select(view.has_html ? 'html' : 'text');
	el.select = select;
	return el;
}
