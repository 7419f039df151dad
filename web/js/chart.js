// A small stacked bar chart in SVG (no chart library): one bar per bucket,
// one stacked segment per key, y axis with "nice" gridlines, x labels thinned
// to fit. Colours come from CSS classes (bar-<key>).
import { s } from './dom.js';

function niceMax(v) {
	if (v <= 4)
		return 4;
	const p = Math.pow(10, Math.floor(Math.log10(v)));
	for (const m of [1, 2, 2.5, 5, 10]) {
		if (m * p >= v)
			return m * p;
	}
	return 10 * p;
}

// buckets: [{t, <key>: count, ...}]; label(bucket, i) -> x label;
// tip(bucket) -> tooltip title.
export function stackedBars({ buckets, keys, label, tip, title, width = 600, height = 250 }) {
	const m = { top: 12, right: 8, bottom: 26, left: 40 };
	const w = width - m.left - m.right, hgt = height - m.top - m.bottom;
	const totals = buckets.map((b) => keys.reduce((a, k) => a + (Number(b[k]) || 0), 0));
	const max = niceMax(Math.max(0, ...totals));
	const svg = s('svg', {
		class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
		'aria-label': `${title}: ${totals.reduce((a, b) => a + b, 0)} messages in ${buckets.length} bars`,
		preserveAspectRatio: 'xMidYMid meet',
	}, s('title', {}, title));
	const y = (v) => m.top + hgt - (v / max) * hgt;
	for (let i = 0; i <= 4; i++) {
		const v = (max / 4) * i;
		svg.append(s('line', { class: i ? 'grid' : 'axis', x1: m.left, x2: width - m.right, y1: y(v), y2: y(v) }),
			s('text', { x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, Number.isInteger(v) ? v : v.toFixed(1)));
	}
	const slot = w / Math.max(1, buckets.length);
	const bw = Math.max(2, slot * 0.7);
	const every = Math.ceil(buckets.length / Math.max(1, Math.floor(w / 46)));
	buckets.forEach((b, i) => {
		const x = m.left + i * slot + (slot - bw) / 2;
		const g = s('g', { class: 'bar' }, s('title', {}, tip ? tip(b) : ''));
		let acc = 0;
		for (const k of keys) {
			const v = Number(b[k]) || 0;
			if (!v)
				continue;
			const top = y(acc + v), bottom = y(acc);
			g.append(s('rect', { class: 'bar-' + k, x: x.toFixed(1), y: top.toFixed(1), width: bw.toFixed(1), height: Math.max(0.5, bottom - top).toFixed(1), rx: 1.5 }));
			acc += v;
		}
		// an invisible full-height target so the tooltip works on empty bars too
		g.append(s('rect', { x: (m.left + i * slot).toFixed(1), y: m.top, width: slot.toFixed(1), height: hgt, fill: 'transparent' }));
		svg.append(g);
		if (i % every === 0 || i === buckets.length - 1 && buckets.length - 1 - i >= every / 2)
			svg.append(s('text', { x: (x + bw / 2).toFixed(1), y: height - 8, 'text-anchor': 'middle' }, label(b, i)));
	});
	if (!totals.some((t) => t > 0))
		svg.append(s('text', { class: 'empty', x: m.left + w / 2, y: m.top + hgt / 2, 'text-anchor': 'middle' }, 'No mail in this period'));
	return svg;
}

// A thin horizontal meter (0..1) as SVG, e.g. disk use.
export function meter(fraction, label) {
	const f = Math.min(1, Math.max(0, Number(fraction) || 0));
	return s('svg', { viewBox: '0 0 100 8', preserveAspectRatio: 'none', role: 'img', 'aria-label': label },
		s('rect', { class: ['fill', f > 0.9 && 'high'], x: 0, y: 0, width: (f * 100).toFixed(2), height: 8 }));
}
