// Form building blocks: labelled fields with help and an inline error slot,
// and forms built from the settings table of the API (GET /config: type,
// bounds, choices, help) that save through PUT /config/NAME.
import { api, enc } from './api.js';
import { h, toast, clearErrors, fieldError, busy } from './dom.js';

let uid = 0;

// Human labels of the settings the pages show; others get their name.
const LABELS = {
	tag_score: 'Tag score',
	quarantine_score: 'Quarantine score',
	block_score: 'Block score',
	tag_subject_prefix: 'Subject prefix for tagged mail',
	quarantine_enabled: 'Quarantine enabled',
	quarantine_summary: 'Summary mail',
	quarantine_retention_days: 'Keep quarantined mail (days)',
	quarantine_auto_users: 'Create user accounts automatically',
	admin_allowed_ips: 'Allowed admin IP ranges',
	web_base_url: 'Base URL in mailed links',
	web_session_idle: 'Session idle timeout',
	web_link_lifetime: 'Mailed link lifetime',
	login_max_failures: 'Failed logins before lockout',
	login_lockout: 'Lockout duration',
	msglog_retention_days: 'Keep message log (days)',
	postmaster_address: 'Postmaster address',
	default_hostname: 'Host name of this node',
	default_domain: 'Default domain',
	metrics_allowed_ips: 'Allowed /metrics IP ranges',
	cluster_failover: 'Failover',
	cluster_failover_grace: 'Failover grace period',
	bayes_autolearn: 'Auto-learn from confident scores',
	outbound_relay: 'Outbound relay',
	smtp_max_message_size: 'Maximum message size',
	smtp_banner: 'SMTP banner',
	rate_exempt: 'Exempt from rate control',
};

const WORDS = { smtp: 'SMTP', ip: 'IP', ips: 'IPs', helo: 'HELO', dns: 'DNS', dnsbl: 'DNSBL', uribl: 'URIBL', spf: 'SPF',
	av: 'Antivirus', ms: '(ms)', url: 'URL', mime: 'MIME', ext: 'extension', msglog: 'Message log', max: 'maximum', min: 'minimum' };

// "smtp_max_connections_per_ip" -> "Maximum connections per IP" (strip: a prefix to drop).
export function settingLabel(name, strip) {
	if (LABELS[name])
		return LABELS[name];
	const base = strip ? name.replace(strip, '') : name;
	const t = base.split('_').map((w) => WORDS[w] || w).join(' ');
	return t.charAt(0).toUpperCase() + t.slice(1);
}

// A labelled input. type: text|password|email|number|search|select|checkbox|textarea|datetime-local.
export function field(o) {
	const id = 'f' + ++uid + '-' + o.name;
	const errId = id + '-err', helpId = id + '-help';
	const describedBy = [o.help ? helpId : null, errId].filter(Boolean).join(' ');
	let input;
	if (o.type === 'select') {
		input = h('select', { id, name: o.name, 'aria-describedby': describedBy },
			(o.choices || []).map((c) => {
				const value = typeof c === 'object' ? c.value : c;
				const label = typeof c === 'object' ? c.label : c;
				return h('option', { value, selected: String(value) === String(o.value ?? '') }, label);
			}));
	} else if (o.type === 'textarea') {
		input = h('textarea', { id, name: o.name, rows: o.rows || 5, placeholder: o.placeholder, 'aria-describedby': describedBy });
		input.defaultValue = input.value = o.value ?? '';
	} else {
		input = h('input', {
			id, name: o.name, type: o.type || 'text', placeholder: o.placeholder,
			autocomplete: o.autocomplete || 'off', required: o.required, min: o.min, max: o.max,
			step: o.step, inputmode: o.inputmode, 'aria-describedby': describedBy,
			spellcheck: o.type === 'text' ? 'false' : null,
		});
		if (o.type === 'checkbox')
			input.defaultChecked = input.checked = Boolean(o.value);
		else if (o.value !== undefined && o.value !== null)
			input.defaultValue = input.value = String(o.value);
	}
	const help = o.help ? h('div', { class: 'help', id: helpId }, o.help) : null;
	const err = h('div', { class: 'error', id: errId, 'aria-live': 'polite' });
	const wrap = o.type === 'checkbox'
		? h('div', { class: 'field' }, h('label', { class: 'check-row', for: id }, input, o.label), help, o.meta || null, err)
		: h('div', { class: ['field', o.class] }, h('label', { for: id }, o.label), input, help, o.meta || null, err);
	wrap.input = input;
	return wrap;
}

// ---- settings -----------------------------------------------------------------

function unitFormat(v, units) {
	v = Number(v);
	if (!v)
		return String(v);
	for (const [mult, suffix] of units) {
		if (v % mult === 0)
			return v / mult + suffix;
	}
	return String(v);
}

const SIZE_UNITS = [[1073741824, 'G'], [1048576, 'M'], [1024, 'K']];
const DUR_UNITS = [[604800, 'w'], [86400, 'd'], [3600, 'h'], [60, 'm'], [1, 's']];

// The value of a setting as the user edits it ("50M", "30m", "3.5").
export function settingText(st, v) {
	if (v === null || v === undefined)
		return '';
	if (st.type === 'size')
		return unitFormat(v, SIZE_UNITS);
	if (st.type === 'duration')
		return unitFormat(v, DUR_UNITS);
	return String(v);
}

function settingHelp(st) {
	const bits = [/[.!?)]$/.test(st.help) ? st.help : st.help + '.'];
	if (st.type === 'size')
		bits.push('Bytes, or with K, M, G.');
	if (st.type === 'duration')
		bits.push('Seconds, or with s, m, h, d, w (e.g. 30m).');
	return bits.join(' ');
}

// One setting as a field; `field.read()` returns the value to PUT.
export function settingField(st, opts = {}) {
	const common = { name: st.name, label: opts.label || settingLabel(st.name, opts.strip), help: settingHelp(st) };
	let f;
	if (st.type === 'bool') {
		f = field({ ...common, type: 'checkbox', value: st.value });
	} else if (st.type === 'enum') {
		f = field({ ...common, type: 'select', value: st.value, choices: st.choices || [] });
	} else if (st.type === 'int' || st.type === 'float') {
		f = field({
			...common, type: 'number', value: st.value, min: st.min, max: st.max,
			step: st.type === 'int' ? 1 : 'any', inputmode: st.type === 'int' ? 'numeric' : 'decimal',
		});
	} else {
		f = field({ ...common, type: 'text', value: settingText(st, st.value) });
	}
	const meta = h('div', { class: 'meta' }, 'Default: ', h('code', {}, settingText(st, st.default) || '(blank)'));
	if (st.set && opts.onReset) {
		meta.append(h('span', { class: 'badge b-info' }, opts.scopeLabel || 'set'),
			h('button', { type: 'button', class: 'linkish small', onClick: () => opts.onReset(st) }, 'Reset to default'));
	}
	f.insertBefore(meta, f.querySelector('.error'));
	const input = f.input;
	f.setting = st;
	f.original = st.type === 'bool' ? Boolean(st.value) : input.value;
	f.current = () => (st.type === 'bool' ? input.checked : input.value);
	f.changed = () => f.current() !== f.original;
	// The JSON value to send, or throws a message for the inline error.
	f.read = () => {
		if (st.type === 'bool')
			return input.checked;
		if (st.type === 'int' || st.type === 'float') {
			if (input.validity.badInput || input.value.trim() === '')
				throw new Error('Enter a number' + (st.min !== null ? ` between ${st.min} and ${st.max}` : ''));
			return Number(input.value);
		}
		return input.value;
	};
	return f;
}

// A card with a form of settings (names from the config list `all`) saved
// with PUT /config/NAME at `scope`; only changed fields are sent.
export function settingsCard({ title, desc, names, all, scope, scopeLabel, onSaved, extra, strip }) {
	const byName = new Map(all.map((st) => [st.name, st]));
	const form = h('form', { novalidate: true, 'aria-label': title });
	const card = h('section', { class: 'card' });
	const render = (list) => {
		const fields = list.map((st) => settingField(st, {
			strip, scopeLabel: scopeLabel || 'set',
			onReset: async (s) => {
				try {
					const q = scope && scope !== 'global' ? '?scope=' + enc(scope) : '';
					await api.del('/config/' + enc(s.name) + q);
					await reload();
					toast(`${settingLabel(s.name)} reset to its default`);
				} catch (e) {
					fieldError(form, s.name, e.message);
				}
			},
		}));
		const save = h('button', { type: 'submit', class: 'btn primary' }, 'Save');
		form.replaceChildren(h('div', { class: 'fields' }, fields), h('div', { class: 'form-actions' }, save, extra || null));
		form.fields = fields;
		form.save = save;
	};
	const reload = async () => {
		const q = scope && scope !== 'global' ? '?scope=' + enc(scope) : '';
		const fresh = await api.get('/config' + q);
		render(names.map((n) => fresh.find((st) => st.name === n)).filter(Boolean));
	};
	render(names.map((n) => byName.get(n)).filter(Boolean));
	form.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		clearErrors(form);
		await busy(form.save, async () => {
			let saved = 0, failed = 0;
			for (const f of form.fields.filter((x) => x.changed())) {
				let value;
				try {
					value = f.read();
				} catch (e) {
					fieldError(form, f.setting.name, e.message);
					failed++;
					continue;
				}
				try {
					const body = { value };
					if (scope && scope !== 'global')
						body.scope = scope;
					const st = await api.put('/config/' + enc(f.setting.name), body);
					f.original = st.type === 'bool' ? Boolean(st.value) : settingText(st, st.value);
					if (st.type !== 'bool')
						f.input.value = f.original;
					saved++;
				} catch (e) {
					fieldError(form, f.setting.name, e.message);
					failed++;
				}
			}
			if (failed) {
				const first = form.querySelector('[aria-invalid="true"]');
				if (first)
					first.focus();
			} else if (saved) {
				await reload();
				toast(`${title}: saved`);
				if (onSaved)
					onSaved();
			} else {
				toast('Nothing changed');
			}
		});
	});
	card.append(h('div', { class: 'card-head' }, h('div', {}, h('h2', {}, title), desc ? h('p', { class: 'desc' }, desc) : null)), form);
	card.form = form;
	return card;
}

// Reads a file chosen in an <input type=file> as text.
export function readFileText(file, max = 64 << 20) {
	if (file.size > max)
		return Promise.reject(new Error(`The file is too large (${file.size} bytes)`));
	return file.text();
}
