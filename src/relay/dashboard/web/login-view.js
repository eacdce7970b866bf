// @ts-check
/** The login form: the admin token is sent once and exchanged for a session cookie; the page never keeps it. */
import { ApiError, callApi } from './api.js';
import { Component, html } from './view.js';

/**
 * @typedef {{ notice: string | null, onLoggedIn: (session: { csrfToken: string, expiresAt: string }) => void }} LoginProps
 * @typedef {{ busy: boolean, error: string | null }} LoginState
 */

/** @extends {Component<LoginProps, LoginState>} */
export class LoginView extends Component {
  constructor(/** @type {LoginProps} */ props) {
    super(props);
    /** @type {LoginState} */
    this.state = { busy: false, error: null };
  }

  /** @param {SubmitEvent} event */
  submit = async (event) => {
    event.preventDefault();
    const form = /** @type {HTMLFormElement} */ (event.target);
    const input = /** @type {HTMLInputElement} */ (form.elements.namedItem('token'));
    const token = input.value;
    this.setState({ busy: true, error: null });
    try {
      const session = await callApi('login', { method: 'POST', body: { token } });
      input.value = '';
      this.props.onLoggedIn(session);
    } catch (err) {
      const message =
        err instanceof ApiError && err.code === 'ERR_RELAY_RATE_LIMITED'
          ? 'Too many wrong tokens from this address: wait a minute and try again.'
          : err instanceof ApiError && err.code === 'ERR_ADMIN_DISABLED'
            ? 'The relay has no admin token configured (--admin-token-file or VISIONA_TUNNEL_ADMIN_TOKEN): the dashboard is disabled.'
            : err instanceof ApiError && err.status === 401
              ? 'That is not the admin token.'
              : err instanceof Error
                ? err.message
                : String(err);
      this.setState({ busy: false, error: message });
      input.focus();
    }
  };

  render() {
    const { busy, error } = this.state;
    return html`<main>
      <form class="login" onSubmit=${this.submit} aria-labelledby="login-title">
        <h1 id="login-title">visiona-tunnel relay</h1>
        <p>Log in with the relay's admin token to see and manage the fleet.</p>
        ${this.props.notice === null ? null : html`<p class="banner info" role="status">${this.props.notice}</p>`}
        ${error === null ? null : html`<div class="error" role="alert">${error}</div>`}
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus spellcheck="false" />
        <button type="submit" class="primary" disabled=${busy}>${busy ? 'Logging in…' : 'Log in'}</button>
        <p class="note muted">The token is exchanged for a session cookie (HttpOnly, SameSite=Strict); it is not kept in the page.</p>
      </form>
    </main>`;
  }
}
