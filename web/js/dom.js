// DOM helpers. Everything that comes from the API or the user is inserted
// as text (text nodes / textContent); nothing here ever sets innerHTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

function applyAttrs(el, attrs) {
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false)
			continue;
		if (k === 'class')
			el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
		else if (k === 'text')
			el.textContent = String(v);
		else if (k === 'dataset')
			Object.assign(el.dataset, v);
		else if (k.startsWith('on') && typeof v === 'function')
			el.addEventListener(k.slice(2).toLowerCase(), v);
		else if (k === 'style' || k === 'innerHTML')
			throw new Error('h(): ' + k + ' is not allowed');
		else if (k === 'value' && 'value' in el) {
			// the default too, so that form.reset() comes back to it
			if ('defaultValue' in el && el.type !== 'file')
				el.defaultValue = String(v);
			el.value = String(v);
		} else if (k === 'checked' || k === 'selected') {
			el[k === 'checked' ? 'defaultChecked' : 'defaultSelected'] = Boolean(v);
			el[k] = Boolean(v);
		} else if (k === 'disabled')
			el.disabled = Boolean(v);
		else
			el.setAttribute(k, v === true ? '' : String(v));
	}
}

function appendKids(el, kids) {
	for (const c of kids.flat(Infinity)) {
		if (c === null || c === undefined || c === false)
			continue;
		el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
}

// h('button', {class: 'btn', onClick: fn}, 'Save')
export function h(tag, attrs, ...kids) {
	const el = document.createElement(tag);
	applyAttrs(el, attrs);
	appendKids(el, kids);
	return el;
}

export function s(tag, attrs, ...kids) {
	const el = document.createElementNS(SVG_NS, tag);
	applyAttrs(el, attrs);
	appendKids(el, kids);
	return el;
}

export function clear(el) {
	while (el.firstChild)
		el.removeChild(el.firstChild);
	return el;
}

export function mount(el, ...kids) {
	clear(el);
	appendKids(el, kids);
	return el;
}

// ---- formatting -----------------------------------------------------------

const pad = (n) => String(n).padStart(2, '0');

export function fmtTime(ms) {
	if (!ms && ms !== 0)
		return '';
	const d = new Date(ms);
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fmtTimeSec(ms) {
	const d = new Date(ms);
	return fmtTime(ms) + ':' + pad(d.getSeconds());
}

export function fmtSize(bytes) {
	if (bytes === null || bytes === undefined)
		return '';
	const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let v = Number(bytes), i = 0;
	while (v >= 1024 && i < u.length - 1) {
		v /= 1024;
		i++;
	}
	return (i === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + ' ' + u[i];
}

export function fmtNum(n) {
	return Number(n || 0).toLocaleString('en-US');
}

export function fmtDuration(sec) {
	sec = Math.round(Number(sec) || 0);
	const d = Math.floor(sec / 86400), hh = Math.floor(sec % 86400 / 3600), mm = Math.floor(sec % 3600 / 60);
	if (d)
		return `${d}d ${hh}h`;
	if (hh)
		return `${hh}h ${mm}m`;
	if (mm)
		return `${mm}m ${sec % 60}s`;
	return `${sec}s`;
}

export function scoreEl(score) {
	const v = Number(score);
	const cls = v >= 5 ? 's-high' : v >= 2 ? 's-mid' : 's-low';
	return h('span', { class: ['score', cls] }, Number.isFinite(v) ? v.toFixed(1) : '');
}

export function badge(text, kind) {
	return h('span', { class: ['badge', 'b-' + String(kind || text).toLowerCase().replace(/[^a-z0-9]+/g, '-')] }, text);
}

// ---- feedback ---------------------------------------------------------------

export function toast(message, kind) {
	let box = document.getElementById('toasts');
	if (!box) {
		box = h('div', { id: 'toasts', class: 'toasts', role: 'status', 'aria-live': 'polite' });
		document.body.append(box);
	}
	const t = h('div', { class: ['toast', kind === 'err' && 'err'] }, message);
	box.append(t);
	setTimeout(() => t.remove(), kind === 'err' ? 8000 : 4500);
}

// A modal confirmation for destructive actions; resolves true/false.
export function confirmDialog({ title, message, confirm = 'Confirm', danger = true }) {
	return new Promise((resolve) => {
		const ok = h('button', { type: 'button', class: ['btn', danger ? 'danger solid' : 'primary'], 'data-confirm': 'yes' }, confirm);
		const cancel = h('button', { type: 'button', class: 'btn', 'data-confirm': 'no' }, 'Cancel');
		const titleId = 'dlg-' + Math.random().toString(36).slice(2);
		const dlg = h('dialog', { class: 'confirm', 'aria-labelledby': titleId },
			h('div', { class: 'body' }, h('h2', { id: titleId }, title), message ? h('p', {}, message) : null),
			h('div', { class: 'foot' }, cancel, ok));
		const done = (v) => {
			dlg.close();
			dlg.remove();
			resolve(v);
		};
		ok.addEventListener('click', () => done(true));
		cancel.addEventListener('click', () => done(false));
		dlg.addEventListener('cancel', (e) => {
			e.preventDefault();
			done(false);
		});
		document.body.append(dlg);
		dlg.showModal();
		cancel.focus();
	});
}

// ---- inline form errors -------------------------------------------------------

export function clearErrors(form) {
	for (const el of form.querySelectorAll('[aria-invalid="true"]'))
		el.removeAttribute('aria-invalid');
	for (const el of form.querySelectorAll('.field .error'))
		el.textContent = '';
	const fe = form.querySelector('.form-error');
	if (fe)
		fe.textContent = '';
}

// Puts one error next to the input named `name` (or in the form's error box).
export function fieldError(form, name, message) {
	const input = name ? form.querySelector(`[name="${CSS.escape(name)}"]`) : null;
	const slot = input && input.closest('.field') && input.closest('.field').querySelector('.error');
	if (input && slot) {
		input.setAttribute('aria-invalid', 'true');
		slot.textContent = message;
		return input;
	}
	let fe = form.querySelector('.form-error');
	if (!fe) {
		fe = h('div', { class: 'form-error', role: 'alert' });
		form.append(fe);
	}
	fe.textContent = message;
	return null;
}

// An ApiError shown at the input its "field" names; map renames API fields
// to input names (e.g. {value: 'tag_score'}).
export function showApiError(form, err, map) {
	const field = err.field && map && map[err.field] ? map[err.field] : err.field;
	const input = fieldError(form, field, err.message);
	if (input)
		input.focus();
}

// Runs fn with the submit button disabled; errors land in the form.
export async function busy(button, fn) {
	if (button)
		button.disabled = true;
	try {
		return await fn();
	} finally {
		if (button)
			button.disabled = false;
	}
}
