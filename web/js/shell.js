// The frame shared by the admin and the user app: login screen, top bar
// with navigation (collapsing into a menu on narrow screens), hash router
// that loads one ES module per page (web/js/pages/*.js).
import { currentSession, login, logout, setUnauthorizedHandler, api } from './api.js';
import { h, s, mount, clearErrors, showApiError, busy, fieldError } from './dom.js';
import { field } from './forms.js';

export function logo() {
	return s('svg', { viewBox: '0 0 32 32', 'aria-hidden': 'true' },
		s('path', { d: 'M16 2 4 6.5v8.2c0 7.3 5 13.2 12 15.3 7-2.1 12-8 12-15.3V6.5Z', fill: '#5b9bff' }),
		s('path', { d: 'M16 5.2 7 8.6v6.1c0 5.6 3.7 10.3 9 12.1 5.3-1.8 9-6.5 9-12.1V8.6Z', fill: '#14213d' }),
		s('path', { d: 'M10.5 12.5h11v8h-11zM12 12.5l4 3.6 4-3.6', fill: 'none', stroke: '#fff', 'stroke-width': 1.6, 'stroke-linejoin': 'round' }));
}

function brand(sub, href) {
	return h('a', { class: 'brand', href }, logo(), 'rampart', sub ? h('span', { class: 'brand-sub' }, sub) : null);
}

// Parses "#/log/12?x" into {name: 'log', rest: ['12']}.
export function parseHash() {
	const raw = location.hash.replace(/^#\/?/, '').split('?')[0];
	const parts = raw.split('/').filter(Boolean).map(decodeURIComponent);
	return { name: parts[0] || '', rest: parts.slice(1) };
}

export function navigate(path) {
	if (location.hash !== '#/' + path)
		location.hash = '#/' + path;
}

export class App {
	// cfg: {kind, sub, home, routes: [{name, label, load, hidden}], defaultRoute,
	//       loginTitle, loginLead, usernameLabel, fixedUser, extraLogin, accept(session)}
	constructor(cfg) {
		this.cfg = cfg;
		this.root = document.getElementById('app');
		this.session = null;
		this.current = null;
		this.seq = 0;
		setUnauthorizedHandler(() => this.showLogin('Your session has ended. Please log in again.'));
		window.addEventListener('hashchange', () => this.route());
	}

	async start() {
		try {
			this.session = await currentSession();
		} catch (e) {
			this.session = null;
			return this.showLogin('The server cannot be reached: ' + e.message);
		}
		if (!this.session)
			return this.showLogin();
		this.enter();
	}

	enter() {
		if (this.cfg.accept && !this.cfg.accept(this.session, this))
			return;
		this.renderShell();
		this.route();
	}

	showLogin(notice) {
		this.dropPage();
		this.seq++;
		this.session = null;
		this.main = null;
		const c = this.cfg;
		const user = field({
			name: 'username', label: c.usernameLabel, type: c.fixedUser ? 'text' : 'email',
			value: c.fixedUser || '', autocomplete: 'username', required: true,
		});
		const pass = field({ name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true });
		const submit = h('button', { type: 'submit', class: 'btn primary' }, 'Log in');
		const form = h('form', { novalidate: true, 'aria-label': 'Log in' },
			notice ? h('div', { class: 'notice warn', role: 'status' }, notice) : null,
			h('div', { class: 'fields' }, user, pass),
			h('div', { class: 'form-actions' }, submit),
			h('div', { class: 'form-error', role: 'alert' }));
		form.addEventListener('submit', (ev) => {
			ev.preventDefault();
			clearErrors(form);
			const u = user.input.value.trim(), p = pass.input.value;
			if (!u)
				return fieldError(form, 'username', 'Enter your ' + c.usernameLabel.toLowerCase());
			if (!p)
				return fieldError(form, 'password', 'Enter your password');
			busy(submit, async () => {
				try {
					this.session = await login(u, p);
					this.enter();
				} catch (e) {
					if (e.status === 429)
						e.message = `Too many failed logins: try again in ${Math.ceil((e.retryAfter || 60) / 60)} minute(s).`;
					showApiError(form, e.field ? e : Object.assign(e, { field: null }));
				}
			});
		});
		mount(this.root, h('div', { class: 'login-wrap' }, h('main', { class: 'login-card', id: 'main' },
			brand(c.sub, c.home),
			h('h1', { class: 'sr-only' }, c.loginTitle),
			h('p', { class: 'lead' }, c.loginLead),
			form,
			c.extraLogin ? c.extraLogin(this) : null)));
		document.title = c.loginTitle + ' — rampart';
		(c.fixedUser ? pass : user).input.focus();
	}

	renderShell() {
		const c = this.cfg;
		this.navLinks = new Map();
		const items = c.routes.filter((r) => !r.hidden).map((r) => {
			const a = h('a', { href: '#/' + r.name }, r.label);
			this.navLinks.set(r.name, a);
			return h('li', {}, a);
		});
		const toggle = h('button', { type: 'button', class: 'nav-toggle', 'aria-expanded': 'false', 'aria-controls': 'mainnav' }, 'Menu');
		const bar = h('header', { class: 'topbar' },
			brand(c.sub, c.home),
			toggle,
			h('nav', { class: 'mainnav', id: 'mainnav', 'aria-label': 'Main' },
				h('ul', {}, items),
				h('div', { class: 'navuser' },
					h('span', { class: 'who', title: this.session.user }, this.session.user),
					h('button', { type: 'button', onClick: () => this.doLogout() }, 'Log out'))));
		toggle.addEventListener('click', () => {
			const open = bar.classList.toggle('open');
			toggle.setAttribute('aria-expanded', String(open));
		});
		this.bar = bar;
		this.toggle = toggle;
		this.main = h('main', { id: 'main', tabindex: '-1' });
		mount(this.root, h('a', { class: 'skip-link', href: '#main' }, 'Skip to content'), bar, this.main);
	}

	async doLogout() {
		try {
			await logout();
		} catch {
			// the session is gone either way
		}
		location.hash = '';
		this.showLogin('You have logged out.');
	}

	async route() {
		if (!this.session || !this.main)
			return;
		const { name, rest } = parseHash();
		const r = this.cfg.routes.find((x) => x.name === name);
		if (!r)
			return navigate(this.cfg.defaultRoute);
		for (const [n, a] of this.navLinks) {
			if (n === (r.navAs || r.name))
				a.setAttribute('aria-current', 'page');
			else
				a.removeAttribute('aria-current');
		}
		this.bar.classList.remove('open');
		this.toggle.setAttribute('aria-expanded', 'false');
		// the same page with another sub-path (e.g. a log detail): let it update itself
		if (this.current && this.current.name === r.name && this.current.handle && this.current.handle.update) {
			this.current.handle.update(rest);
			return;
		}
		this.dropPage();
		const seq = ++this.seq;
		document.title = r.label + ' — rampart';
		mount(this.main, h('div', { class: 'loading' }, 'Loading…'));
		try {
			const mod = await r.load();
			if (seq !== this.seq)
				return;
			const ctx = { rest, session: this.session, app: this, api };
			const page = h('div', { class: 'page' });
			mount(this.main, page);
			const ret = await mod.render(page, ctx);
			const handle = typeof ret === 'function' ? { cleanup: ret } : ret || {};
			if (seq !== this.seq) {
				if (handle.cleanup)
					handle.cleanup();
				return;
			}
			this.current = { name: r.name, handle };
		} catch (e) {
			if (e.status === 401 || seq !== this.seq)
				return;
			mount(this.main, h('div', { class: 'notice err', role: 'alert' },
				e.status === 404 ? 'Not found: ' + e.message : 'This page could not be loaded: ' + e.message));
		}
	}

	dropPage() {
		if (this.current && this.current.handle && this.current.handle.cleanup)
			this.current.handle.cleanup();
		this.current = null;
	}
}
