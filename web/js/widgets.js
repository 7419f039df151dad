// Page building blocks: headings, sub navigation, tables, pager.
import { h } from './dom.js';

export function pageHead(title, sub, ...actions) {
	return h('div', { class: 'page-head' },
		h('div', {}, h('h1', {}, title), sub ? h('p', { class: 'sub' }, sub) : null),
		actions.length ? h('div', { class: 'btn-row' }, actions) : null);
}

// Tabs inside a page: links #/<base>/<name>; items [{name, label, count}].
export function subnav(base, items, active, label) {
	const nav = h('nav', { class: 'subnav', 'aria-label': label || 'Sections' }, items.map((it) =>
		h('a', { href: `#/${base}/${it.name}`, 'aria-current': it.name === active ? 'page' : null },
			it.label, it.count !== undefined && it.count !== null ? h('span', { class: 'count' }, String(it.count)) : null)));
	// on a narrow screen the tabs scroll sideways: keep the current one in view
	const reveal = () => {
		const a = nav.querySelector('[aria-current="page"]');
		if (a && nav.scrollWidth > nav.clientWidth)
			nav.scrollLeft = Math.max(0, a.offsetLeft - 24);
	};
	new ResizeObserver(reveal).observe(nav);
	return nav;
}

// columns: [{label, num, class, sr}] ; rows: [{cells: [...], attrs}] or arrays of cells.
// responsive: below 640px each row becomes a block with labelled cells.
export function table({ columns, rows, empty, caption, attrs, responsive = true }) {
	const head = h('thead', {}, h('tr', {}, columns.map((c) =>
		h('th', { scope: 'col', class: [c.num && 'num', c.class] }, c.sr ? h('span', { class: 'sr-only' }, c.label) : c.label))));
	const body = h('tbody');
	if (!rows.length) {
		body.append(h('tr', { class: 'empty-row' }, h('td', { colspan: columns.length }, empty || 'Nothing here yet.')));
	}
	for (const r of rows) {
		const cells = Array.isArray(r) ? r : r.cells;
		const tr = h('tr', Array.isArray(r) ? {} : r.attrs || {});
		cells.forEach((cell, i) => {
			const c = columns[i] || {};
			tr.append(h('td', { class: [c.num && 'num', c.class], 'data-label': c.sr ? null : c.label }, cell));
		});
		body.append(tr);
	}
	return h('div', { class: 'table-wrap' }, h('table', { class: ['data', responsive && 'responsive'], ...(attrs || {}) },
		caption ? h('caption', { class: 'sr-only' }, caption) : null, head, body));
}

// "1–50 of 230" with Previous / Next; onPage(newOffset).
export function pager({ total, offset, limit, onPage }) {
	const first = total ? offset + 1 : 0, last = Math.min(total, offset + limit);
	const prev = h('button', { type: 'button', class: 'btn small', disabled: offset <= 0, onClick: () => onPage(Math.max(0, offset - limit)) }, '‹ Previous');
	const next = h('button', { type: 'button', class: 'btn small', disabled: offset + limit >= total, onClick: () => onPage(offset + limit) }, 'Next ›');
	return h('div', { class: 'pager' }, h('span', { 'aria-live': 'polite' }, `${first}–${last} of ${total}`), h('div', { class: 'btns' }, prev, next));
}

export const ACTIONS = ['allow', 'tag', 'quarantine', 'block', 'tempfail', 'reject'];

export function legend(keys) {
	return h('ul', { class: 'legend' }, keys.map((k) => h('li', {}, h('span', { class: ['swatch', 's-' + k], 'aria-hidden': 'true' }), k)));
}

export function card(title, desc, ...body) {
	return h('section', { class: 'card' },
		h('div', { class: 'card-head' }, h('div', {}, h('h2', {}, title), desc ? h('p', { class: 'desc' }, desc) : null)),
		body);
}
