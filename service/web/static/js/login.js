// The login page (shown when /api/auth/me answers 401).
import * as api from './api.js';
import { clear, el } from './dom.js';

export function createLogin(container, { onLoggedIn }) {
  const message = el('p', { class: 'form-message error', role: 'alert' });
  const username = el('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = el('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const button = el('button', { type: 'submit', class: 'btn btn-primary', id: 'login-submit' }, 'Log in');
  clear(container).append(el('section', { class: 'login panel' },
    el('h1', {}, 'Log in'),
    el('form', { onsubmit: async (e) => {
      e.preventDefault();
      message.textContent = '';
      button.disabled = true;
      try {
        const answer = await api.login(username.value.trim(), password.value);
        password.value = '';
        onLoggedIn(answer.user);
      } catch (error) {
        message.textContent = error.status === 401 ? 'Wrong user name or password.' :
          error.status === 429 ? 'Too many attempts - wait a minute and try again.' : `Login failed: ${error.message}`;
      } finally {
        button.disabled = false;
      }
    } }, el('label', { for: 'login-username' }, 'User name'), username,
    el('label', { for: 'login-password' }, 'Password'), password, button, message)));
  username.focus();
  return { destroy() {} };
}
