// The mail user's app (web/user/index.html): quarantine inbox, message
// view, preferences; the set-password page of mailed links (?setpw=TOKEN).
import { App, logo } from './shell.js';
import { api, setCsrf, logout } from './api.js';
import { h, mount, clearErrors, fieldError, showApiError, busy } from './dom.js';
import { field } from './forms.js';

const routes = [
	{ name: 'quarantine', label: 'Quarantine', load: () => import('./pages/quarantine.js') },
	{ name: 'message', label: 'Message', hidden: true, navAs: 'quarantine', load: () => import('./pages/usermessage.js') },
	{ name: 'prefs', label: 'Preferences', load: () => import('./pages/prefs.js') },
];

function forgotForm() {
	const addr = field({ name: 'address', label: 'Your email address', type: 'email', autocomplete: 'username' });
	const send = h('button', { type: 'submit', class: 'btn' }, 'Mail me a link');
	const out = h('div', { role: 'status' });
	const form = h('form', { novalidate: true, 'aria-label': 'Forgotten password', hidden: true },
		h('div', { class: 'fields' }, addr), h('div', { class: 'form-actions' }, send), h('div', { class: 'form-error', role: 'alert' }), out);
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		if (!addr.input.value.trim())
			return fieldError(form, 'address', 'Enter your email address');
		busy(send, async () => {
			try {
				await api.post('/auth/forgot', { address: addr.input.value.trim() }, { quiet401: true });
				mount(out, h('div', { class: 'notice ok' }, 'If this address has an account, a link to choose a new password is on its way.'));
			} catch (e) {
				showApiError(form, e);
			}
		});
	});
	const toggle = h('button', { type: 'button', class: 'linkish' }, 'Forgot your password?');
	toggle.addEventListener('click', () => {
		form.hidden = !form.hidden;
		if (!form.hidden)
			addr.input.focus();
	});
	return h('div', { class: 'alt' }, toggle, form);
}

const app = new App({
	kind: 'user',
	sub: 'quarantine',
	home: '#/quarantine',
	routes,
	defaultRoute: 'quarantine',
	loginTitle: 'Log in to your quarantine',
	loginLead: 'Review the mail the spam firewall held back for you.',
	usernameLabel: 'Email address',
	extraLogin: () => forgotForm(),
	accept(session, a) {
		if (session.role === 'user')
			return true;
		mount(a.root, h('div', { class: 'login-wrap' }, h('main', { class: 'login-card' },
			h('h1', {}, 'Administrator session'),
			h('p', { class: 'lead' }, 'These pages are for mail users. Quarantines of all users are in the administration (Users, Message log).'),
			h('div', { class: 'btn-row' }, h('a', { class: 'btn primary', href: '/' }, 'Open the administration'),
				h('button', { type: 'button', class: 'btn', onClick: async () => { await logout(); a.showLogin(); } }, 'Log out')))));
		return false;
	},
});

// The page of the link in the welcome / password mail: choose a password.
function setPasswordPage(token) {
	const pw = field({ name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password', help: 'At least 8 characters' });
	const again = field({ name: 'password2', label: 'Repeat the password', type: 'password', autocomplete: 'new-password' });
	const save = h('button', { type: 'submit', class: 'btn primary' }, 'Set password and log in');
	const form = h('form', { novalidate: true, 'aria-label': 'Choose your password' },
		h('div', { class: 'fields' }, pw, again), h('div', { class: 'form-actions' }, save), h('div', { class: 'form-error', role: 'alert' }));
	const dropToken = () => history.replaceState(null, '', location.pathname + location.hash);
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		if (pw.input.value.length < 8)
			return fieldError(form, 'password', 'Use at least 8 characters');
		if (pw.input.value !== again.input.value)
			return fieldError(form, 'password2', 'The two passwords differ');
		busy(save, async () => {
			try {
				const s = await api.post('/auth/set-password', { token, password: pw.input.value }, { quiet401: true });
				setCsrf(s.csrf_token);
				dropToken();
				app.session = s;
				app.enter();
			} catch (e) {
				if (e.field === 'token') {
					dropToken();
					app.showLogin('This link has expired or was already used. Log in, or ask for a new link with “Forgot your password?”.');
				} else {
					showApiError(form, e);
				}
			}
		});
	});
	mount(document.getElementById('app'), h('div', { class: 'login-wrap' }, h('main', { class: 'login-card', id: 'main' },
		h('a', { class: 'brand', href: '/user/' }, logo(), 'rampart', h('span', { class: 'brand-sub' }, 'quarantine')),
		h('h1', {}, 'Choose your password'),
		h('p', { class: 'lead' }, 'With it you can log in to your quarantine and release or delete held-back mail.'),
		form)));
	document.title = 'Choose your password — rampart';
	pw.input.focus();
}

const token = new URLSearchParams(location.search).get('setpw');
if (token)
	setPasswordPage(token);
else
	app.start();
