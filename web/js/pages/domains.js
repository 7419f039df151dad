// DOMAINS: the recipient domains the gateway accepts mail for, their
// destination server, and per-domain thresholds and quarantine settings
// (the settings API at scope domain:NAME). #/domains/NAME opens one.
import { api, enc } from '../api.js';
import { h, mount, toast, confirmDialog, busy, clearErrors, fieldError, showApiError } from '../dom.js';
import { field, settingsCard } from '../forms.js';
import { pageHead, table, card } from '../widgets.js';
import { navigate } from '../shell.js';

function splitDest(d) {
	const m = /^(smtp|maildir):(.*)$/.exec(d || '');
	return m ? { kind: m[1], where: m[2] } : { kind: 'smtp', where: '' };
}

function destinationFields(initial) {
	const d = splitDest(initial);
	const kind = field({ name: 'kind', label: 'Delivered by', type: 'select', value: d.kind, class: 'narrow',
		choices: [{ value: 'smtp', label: 'SMTP server' }, { value: 'maildir', label: 'Local Maildir' }] });
	const where = field({ name: 'destination', label: 'Destination server', value: d.where, placeholder: 'mail.example.com:25' });
	const sync = () => {
		const smtp = kind.input.value === 'smtp';
		where.querySelector('label').textContent = smtp ? 'Destination server (host:port)' : 'Maildir root (absolute path)';
		where.input.placeholder = smtp ? 'mail.example.com:25' : '/var/mail/rampart';
	};
	kind.input.addEventListener('change', sync);
	sync();
	return { kind, where, value: () => `${kind.input.value}:${where.input.value.trim()}` };
}

function addForm(reload) {
	const name = field({ name: 'name', label: 'Domain', placeholder: 'example.com' });
	const dest = destinationFields('');
	const add = h('button', { type: 'submit', class: 'btn primary' }, 'Add domain');
	const form = h('form', { class: 'inline-form', novalidate: true, 'aria-label': 'Add a domain' }, name, dest.kind, dest.where, add,
		h('div', { class: 'form-error', role: 'alert' }));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		if (!name.input.value.trim())
			return fieldError(form, 'name', 'Enter a domain name');
		if (!dest.where.input.value.trim())
			return fieldError(form, 'destination', 'Enter where mail for this domain goes');
		busy(add, async () => {
			try {
				const r = await api.post('/domains', { name: name.input.value.trim(), destination: dest.value() });
				toast(`Domain ${r.name} added`);
				form.reset();
				reload();
			} catch (e) {
				showApiError(form, e);
			}
		});
	});
	return form;
}

async function domainPanel(name, domains, reload) {
	const d = domains.find((x) => x.name === name);
	if (!d)
		return h('div', { class: 'notice err', role: 'alert' }, `There is no domain ${name}.`);
	const scope = 'domain:' + name;
	const all = await api.get('/config?scope=' + enc(scope));
	const dest = destinationFields(d.destination);
	const save = h('button', { type: 'submit', class: 'btn primary' }, 'Save destination');
	const form = h('form', { class: 'inline-form', novalidate: true, 'aria-label': 'Destination' }, dest.kind, dest.where, save,
		h('div', { class: 'form-error', role: 'alert' }));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		busy(save, async () => {
			try {
				await api.post('/domains', { name, destination: dest.value() });
				toast(`Destination of ${name} saved`);
				reload();
			} catch (e) {
				showApiError(form, e);
			}
		});
	});
	const pick = (names) => names.filter((n) => all.some((st) => st.name === n && st.scopes.includes('domain')));
	return h('div', { class: 'stack', id: 'domain-panel' },
		h('h2', {}, 'Domain ', h('code', {}, name)),
		card('Destination', 'Where accepted mail for this domain is delivered.', form),
		settingsCard({
			title: 'Spam thresholds for ' + name,
			desc: 'Values set here override the global thresholds for this domain; “Reset to default” goes back to the global value. Users may override them again.',
			names: pick(['tag_score', 'quarantine_score', 'block_score', 'tag_subject_prefix']), all, scope, scopeLabel: 'set for this domain',
		}),
		settingsCard({
			title: 'Quarantine for ' + name,
			names: pick(['quarantine_enabled', 'quarantine_summary', 'quarantine_auto_users']), all, scope, scopeLabel: 'set for this domain',
		}),
		settingsCard({ title: 'Limits for ' + name, names: pick(['smtp_max_message_size']), all, scope, scopeLabel: 'set for this domain' }));
}

export async function render(page, ctx) {
	let open = ctx.rest[0] || null;
	let domains = [];
	const list = h('div');
	const panel = h('div');
	const load = async () => {
		domains = await api.get('/domains');
		mount(list, table({
			columns: [{ label: 'Domain' }, { label: 'Destination' }, { label: 'Actions', sr: true, class: 'actions' }],
			rows: domains.map((d) => ({
				attrs: { class: d.name === open ? 'selected' : null, dataset: { domain: d.name } },
				cells: [h('a', { href: '#/domains/' + enc(d.name) }, d.name), h('code', {}, d.destination),
					h('span', { class: 'btn-row' },
						h('a', { class: 'btn small', href: '#/domains/' + enc(d.name) }, 'Settings'),
						h('button', { type: 'button', class: 'btn small danger', 'aria-label': `Remove ${d.name}`, onClick: () => remove(d.name) }, 'Remove'))],
			})),
			empty: 'No domain yet: all mail is refused until you add one.', caption: 'Domains',
		}));
	};
	let seq = 0;
	const showPanel = async () => {
		const mine = ++seq;
		if (!open)
			return mount(panel);
		const content = await domainPanel(open, domains, async () => { await load(); });
		if (mine !== seq)
			return;
		mount(panel, content);
		panel.scrollIntoView({ block: 'start' });
	};
	const remove = async (name) => {
		if (!await confirmDialog({ title: `Remove ${name}?`, message: 'Mail for this domain is refused from now on; its settings are removed.', confirm: 'Remove domain' }))
			return;
		try {
			await api.del('/domains/' + enc(name));
			toast(`Domain ${name} removed`);
			if (open === name)
				navigate('domains');
			await load();
		} catch (e) {
			toast(e.message, 'err');
		}
	};
	mount(page, pageHead('Domains', 'Mail is accepted only for these recipient domains'),
		card('Recipient domains', 'Add the domains this gateway receives mail for and the server each is delivered to.', addForm(load), h('div', { class: 'stack' }, list)),
		panel);
	await load();
	await showPanel();
	return {
		update: async (rest) => {
			open = rest[0] || null;
			for (const tr of list.querySelectorAll('tr[data-domain]'))
				tr.classList.toggle('selected', tr.dataset.domain === open);
			await showPanel();
		},
	};
}
