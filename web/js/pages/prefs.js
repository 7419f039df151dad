// The user's preferences: password, quarantine settings, spam scores,
// whitelist and blacklist (read-only when the admin switched settings off).
import { api } from '../api.js';
import { h, mount, toast, clearErrors, fieldError, showApiError, busy } from '../dom.js';
import { field } from '../forms.js';
import { pageHead, card } from '../widgets.js';
import { settingsCardFor, listsBlock } from '../userprefs.js';

function passwordCard(user) {
	const cur = field({ name: 'current_password', label: 'Current password', type: 'password', autocomplete: 'current-password' });
	const pw = field({ name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password', help: 'At least 8 characters' });
	const again = field({ name: 'password2', label: 'Repeat the new password', type: 'password', autocomplete: 'new-password' });
	const save = h('button', { type: 'submit', class: 'btn primary' }, 'Change password');
	const form = h('form', { novalidate: true, 'aria-label': 'Change password' },
		h('input', { type: 'text', name: 'username', autocomplete: 'username', value: user, hidden: true, 'aria-hidden': 'true', tabindex: '-1', readonly: true }),
		h('div', { class: 'fields one' }, cur, pw, again), h('div', { class: 'form-actions' }, save), h('div', { class: 'form-error', role: 'alert' }));
	form.addEventListener('submit', (ev) => {
		ev.preventDefault();
		clearErrors(form);
		if (!cur.input.value)
			return fieldError(form, 'current_password', 'Enter your current password');
		if (pw.input.value !== again.input.value)
			return fieldError(form, 'password2', 'The two passwords differ');
		busy(save, async () => {
			try {
				await api.put('/me/password', { current_password: cur.input.value, password: pw.input.value });
				form.reset();
				toast('Password changed');
			} catch (e) {
				showApiError(form, e);
			}
		});
	});
	return card('Password', null, form);
}

export async function render(page, ctx) {
	const locked = ctx.session.features && ctx.session.features.settings === false;
	const [settings, lists] = await Promise.all([settingsCardFor('/me', { readOnly: locked }), listsBlock('/me', { readOnly: locked })]);
	mount(page, pageHead('Preferences', ctx.session.user),
		locked ? h('div', { class: 'notice info' }, 'Your administrator manages your spam settings and lists; you can still change your password.') : null,
		h('div', { class: 'grid-2 prefs' }, settings, passwordCard(ctx.session.user)),
		lists);
}
