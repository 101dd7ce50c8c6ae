// The login page (shown when /api/auth/me answers 401), and the change-password page (shown while the user must
// replace a generated or handed-out password: until then the service answers nothing else).
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

const PASSWORD_MIN = 10;

export function createPasswordChange(container, { user, onChanged, onLogout }) {
  const message = el('p', { class: 'form-message error', role: 'alert' });
  const field = (id, label, autocomplete) => [
    el('label', { for: id }, label),
    el('input', { id, name: id, type: 'password', autocomplete, required: true }),
  ];
  const [currentLabel, current] = field('pw-current', 'Current password', 'current-password');
  const [newLabel, fresh] = field('pw-new', `New password (at least ${PASSWORD_MIN} characters)`, 'new-password');
  const [repeatLabel, repeat] = field('pw-repeat', 'New password again', 'new-password');
  fresh.minLength = PASSWORD_MIN;
  const button = el('button', { type: 'submit', class: 'btn btn-primary', id: 'pw-submit' }, 'Set new password');
  const logout = el('button', { type: 'button', class: 'btn', id: 'pw-logout', onclick: onLogout }, 'Log out');
  clear(container).append(el('section', { class: 'login panel', id: 'password-change' },
    el('h1', {}, 'Set a new password'),
    el('p', {}, `${user.name}: this password was generated or handed out, and must be replaced before the ` +
      'dashboard can be used.'),
    el('form', { onsubmit: async (e) => {
      e.preventDefault();
      message.textContent = '';
      if (fresh.value !== repeat.value) {
        message.textContent = 'The two new passwords differ.';
        return;
      }
      button.disabled = true;
      try {
        const updated = await api.changePassword(current.value, fresh.value);
        for (const input of [current, fresh, repeat]) input.value = '';
        onChanged(updated);
      } catch (error) {
        message.textContent = error.status === 429 ? 'Too many attempts - wait a minute and try again.' :
          `Not changed: ${error.message}`;
      } finally {
        button.disabled = false;
      }
    } }, currentLabel, current, newLabel, fresh, repeatLabel, repeat, button, logout, message)));
  current.focus();
  return { destroy() {} };
}
