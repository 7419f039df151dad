// The JSON API client shared by the admin and the user UI (docs/api.md).
// Every call goes to /api/v1 with the session cookie; state-changing calls
// carry the CSRF token of the session. Errors become ApiError with the
// API's message and the name of the input at fault ("field").

export class ApiError extends Error {
	constructor(status, message, field, retryAfter) {
		super(message);
		this.status = status;
		this.field = field || null;
		this.retryAfter = retryAfter || null;
	}
}

let csrfToken = null;
let onUnauthorized = null;

export function setCsrf(token) {
	csrfToken = token || null;
}

// fn() is called when a call answers 401 (session expired): the app shows its login form.
export function setUnauthorizedHandler(fn) {
	onUnauthorized = fn;
}

// "?a=1&b=x" from an object; empty, null and undefined values are left out.
export function query(params) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params || {})) {
		if (v !== undefined && v !== null && v !== '')
			q.set(k, String(v));
	}
	const s = q.toString();
	return s ? '?' + s : '';
}

export const enc = encodeURIComponent;

async function readBody(res, asText) {
	const type = res.headers.get('Content-Type') || '';
	if (type.includes('application/json')) {
		try {
			return await res.json();
		} catch {
			return null;
		}
	}
	return asText || !res.ok ? res.text() : null;
}

// One call. opts.text: the reply is text (CSV, message source); opts.quiet401:
// a 401 is the caller's business (login, session probe), not "session expired".
export async function request(method, path, body, opts = {}) {
	const headers = { Accept: 'application/json' };
	const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
	if (method !== 'GET' && method !== 'HEAD') {
		headers['Content-Type'] = 'application/json';
		init.body = JSON.stringify(body === undefined ? {} : body);
		if (csrfToken)
			headers['X-CSRF-Token'] = csrfToken;
	}
	let res;
	try {
		res = await fetch('/api/v1' + path, init);
	} catch (e) {
		throw new ApiError(0, 'The server cannot be reached (' + e.message + ')');
	}
	const data = await readBody(res, opts.text);
	if (res.ok)
		return data;
	const msg = data && typeof data === 'object' && data.error ? data.error
		: `${res.status} ${res.statusText || 'error'}`;
	const err = new ApiError(res.status, msg, data && data.field, res.headers.get('Retry-After'));
	if (res.status === 401 && !opts.quiet401 && onUnauthorized)
		onUnauthorized(err);
	throw err;
}

export const api = {
	get: (path, opts) => request('GET', path, undefined, opts),
	post: (path, body, opts) => request('POST', path, body, opts),
	put: (path, body, opts) => request('PUT', path, body, opts),
	del: (path, opts) => request('DELETE', path, undefined, opts),
};

// Session helpers used by both apps.
export async function currentSession() {
	try {
		const s = await api.get('/session', { quiet401: true });
		setCsrf(s.csrf_token);
		return s;
	} catch (e) {
		if (e.status === 401)
			return null;
		throw e;
	}
}

export async function login(username, password) {
	const s = await api.post('/auth/login', { username, password }, { quiet401: true });
	setCsrf(s.csrf_token);
	return s;
}

export async function logout() {
	try {
		await api.post('/auth/logout', {}, { quiet401: true });
	} finally {
		setCsrf(null);
	}
}
