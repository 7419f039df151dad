// The administrator's app (web/index.html): tabs as hash routes.
import { App } from './shell.js';
import { h, mount } from './dom.js';
import { logout } from './api.js';

const routes = [
	{ name: 'basic', label: 'Basic', load: () => import('./pages/basic.js') },
	{ name: 'log', label: 'Message log', load: () => import('./pages/log.js') },
	{ name: 'lists', label: 'Block/Accept', load: () => import('./pages/lists.js') },
	{ name: 'domains', label: 'Domains', load: () => import('./pages/domains.js') },
	{ name: 'users', label: 'Users', load: () => import('./pages/users.js') },
	{ name: 'advanced', label: 'Advanced', load: () => import('./pages/advanced.js') },
];

const app = new App({
	kind: 'admin',
	sub: 'admin',
	home: '#/basic',
	routes,
	defaultRoute: 'basic',
	loginTitle: 'Administrator login',
	loginLead: 'Spam firewall administration',
	usernameLabel: 'User name',
	fixedUser: 'admin',
	// a mail user who logged in here belongs to the quarantine pages
	accept(session, a) {
		if (session.role === 'admin')
			return true;
		mount(a.root, h('div', { class: 'login-wrap' }, h('main', { class: 'login-card' },
			h('h1', {}, 'Not an administrator'),
			h('p', { class: 'lead' }, 'You are logged in as ', h('strong', {}, session.user),
				'. Your quarantine and preferences are on the user pages.'),
			h('div', { class: 'btn-row' },
				h('a', { class: 'btn primary', href: '/user/' }, 'Open my quarantine'),
				h('button', { type: 'button', class: 'btn', onClick: async () => { await logout(); a.showLogin(); } }, 'Log out')))));
		return false;
	},
});
app.start();
