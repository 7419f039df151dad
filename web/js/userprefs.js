// Per-user preferences, shared by the user's own preferences page (base
// '/me') and the admin's user editor (base '/users/ADDR'): quarantine
// settings, spam scores, whitelist and blacklist (docs/api.md §7.3, §7.4).
import { api, enc } from './api.js';
import { h, mount, fmtTime, toast, confirmDialog, busy, clearErrors, fieldError, showApiError } from './dom.js';
import { field } from './forms.js';
import { table, card } from './widgets.js';

const SCORES = [['tag_score', 'Tag from score'], ['quarantine_score', 'Quarantine from score'], ['block_score', 'Block from score']];

export async function settingsCardFor(base, { readOnly, who } = {}) {
	const data = await api.get(base + '/settings');
	const by = Object.fromEntries(data.settings.map((s) => [s.name, s]));
	const qen = field({ name: 'quarantine_enabled', label: 'Keep suspected spam in my quarantine', type: 'checkbox', value: by.quarantine_enabled.value,
		help: 'Off: such mail is delivered with “[QUAR]:” in front of the subject.' });
	const sum = field({ name: 'quarantine_summary', label: 'Summary mail of new quarantined messages', type: 'select', value: by.quarantine_summary.value,
		choices: [{ value: 'never', label: 'Never' }, { value: 'daily', label: 'Daily' }, { value: 'weekly', label: 'Weekly' }] });
	const modeName = 'mode-' + Math.random().toString(36).slice(2);
	const useDef = h('input', { type: 'radio', name: modeName, value: 'defaults', id: modeName + '-d', checked: data.use_defaults });
	const useOwn = h('input', { type: 'radio', name: modeName, value: 'own', id: modeName + '-o', checked: !data.use_defaults });
	const scoreFields = SCORES.map(([n, label]) => field({
		name: n, label, type: 'number', step: 'any', value: by[n].value, min: by[n].min, max: by[n].max, inputmode: 'decimal',
		help: by[n].set ? 'Your own value' : 'The default for you',
	}));
	const syncMode = () => {
		for (const f of scoreFields)
			f.input.disabled = readOnly || useDef.checked;
	};
	useDef.addEventListener('change', syncMode);
	useOwn.addEventListener('change', syncMode);
	syncMode();
	const save = h('button', { type: 'submit', class: 'btn primary', disabled: readOnly }, 'Save preferences');
	const form = h('form', { novalidate: true, 'aria-label': 'Quarantine and spam scores' },
		h('div', { class: 'fields one' }, qen, sum),
		h('fieldset', { class: 'scores' }, h('legend', {}, 'Spam scores'),
			h('p', { class: 'help' }, 'The higher a message’s score, the more likely it is spam. 10 or more switches an action off.'),
			h('div', { class: 'radio-row' }, h('label', { for: useDef.id, class: 'check-row' }, useDef, 'Use the defaults'),
				h('label', { for: useOwn.id, class: 'check-row' }, useOwn, 'Use my own scores')),
			h('div', { class: 'fields' }, scoreFields)),
		h('div', { class: 'form-actions' }, save), h('div', { class: 'form-error', role: 'alert' }));
	if (readOnly) {
		for (const el of form.querySelectorAll('input, select'))
			el.disabled = true;
	}
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		const body = {};
		if (qen.input.checked !== by.quarantine_enabled.value)
			body.quarantine_enabled = qen.input.checked;
		if (sum.input.value !== by.quarantine_summary.value)
			body.quarantine_summary = sum.input.value;
		if (useDef.checked) {
			if (!data.use_defaults)
				body.use_defaults = true;
		} else {
			for (const f of scoreFields) {
				if (f.input.validity.badInput || f.input.value === '')
					return fieldError(form, f.input.name, 'Enter a number');
				body[f.input.name] = Number(f.input.value);
			}
		}
		busy(save, async () => {
			try {
				const fresh = await api.put(base + '/settings', body);
				toast('Preferences saved');
				data.use_defaults = fresh.use_defaults;
				for (const s of fresh.settings)
					by[s.name] = s;
				for (const f of scoreFields) {
					f.input.value = by[f.input.name].value;
					f.querySelector('.help').textContent = by[f.input.name].set ? 'Your own value' : 'The default for you';
				}
			} catch (e) {
				showApiError(form, e);
			}
		});
	});
	return card(who ? 'Quarantine and spam scores' : 'Quarantine and spam scores',
		readOnly ? 'Your administrator has locked these settings.' : null, form);
}

function oneList(base, kind, rows, readOnly, reload) {
	const title = kind === 'whitelist' ? 'Whitelist' : 'Blacklist';
	const entry = field({ name: 'entry', label: kind === 'whitelist' ? 'Always accept mail from' : 'Always block mail from', placeholder: 'someone@example.org or example.org' });
	const add = h('button', { type: 'submit', class: 'btn primary', disabled: readOnly }, 'Add');
	entry.input.disabled = readOnly;
	const form = h('form', { class: 'inline-form', novalidate: true, 'aria-label': `Add to the ${kind}` }, entry, add, h('div', { class: 'form-error', role: 'alert' }));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		if (!entry.input.value.trim())
			return fieldError(form, 'entry', 'Enter an address or a domain');
		busy(add, async () => {
			try {
				const r = await api.post(`${base}/lists/${kind}`, { entry: entry.input.value.trim() });
				toast(`${r.entry} added to the ${kind}`);
				reload();
			} catch (e) {
				showApiError(form, e);
			}
		});
	});
	const remove = async (e) => {
		if (!await confirmDialog({ title: `Remove ${e.entry}?`, message: `It is removed from the ${kind}.`, confirm: 'Remove' }))
			return;
		try {
			await api.del(`${base}/lists/${kind}/${enc(e.entry)}`);
			toast(`${e.entry} removed`);
			reload();
		} catch (err) {
			toast(err.message, 'err');
		}
	};
	return h('section', { class: 'card', 'data-list': kind },
		h('div', { class: 'card-head' }, h('div', {}, h('h2', {}, title),
			h('p', { class: 'desc' }, kind === 'whitelist' ? 'Mail from these senders skips spam scoring.' : 'Mail from these senders is blocked.'))),
		form,
		h('div', { class: 'stack' }, table({
			columns: [{ label: 'Sender' }, { label: 'Added' }, { label: 'Actions', sr: true, class: 'actions' }],
			rows: rows.map((e) => [e.entry, fmtTime(e.added_ms), readOnly ? '' : h('button', { type: 'button', class: 'btn small danger', 'aria-label': `Remove ${e.entry}`, onClick: () => remove(e) }, 'Remove')]),
			empty: `Your ${kind} is empty.`, caption: title,
		})));
}

export async function listsBlock(base, { readOnly } = {}) {
	const box = h('div', { class: 'grid-2' });
	const reload = async () => {
		const l = await api.get(base + '/lists');
		mount(box, oneList(base, 'whitelist', l.whitelist, readOnly, reload), oneList(base, 'blacklist', l.blacklist, readOnly, reload));
	};
	await reload();
	return box;
}
