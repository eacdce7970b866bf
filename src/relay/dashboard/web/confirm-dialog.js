// @ts-check
/** A modal confirmation (the native `<dialog>`: focus stays inside, Escape cancels). */
import { Component, createRef, html } from './view.js';

/**
 * @typedef {{ title: string, message: string, confirmLabel: string, danger?: boolean, onConfirm: () => void, onCancel: () => void }} ConfirmProps
 */

/** @extends {Component<ConfirmProps, {}>} */
export class ConfirmDialog extends Component {
  constructor(/** @type {ConfirmProps} */ props) {
    super(props);
    this.dialog = createRef();
  }

  componentDidMount() {
    const dialog = /** @type {HTMLDialogElement} */ (this.dialog.current);
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      this.props.onCancel();
    });
    dialog.showModal();
  }

  componentWillUnmount() {
    /** @type {HTMLDialogElement | null} */ (this.dialog.current)?.close();
  }

  render() {
    const { title, message, confirmLabel, danger, onConfirm, onCancel } = this.props;
    return html`<dialog ref=${this.dialog} aria-labelledby="confirm-title" aria-describedby="confirm-message">
      <h2 id="confirm-title">${title}</h2>
      <p id="confirm-message">${message}</p>
      <div class="buttons">
        <button type="button" onClick=${onCancel}>Cancel</button>
        <button type="button" class=${danger === true ? 'danger' : 'primary'} onClick=${onConfirm}>${confirmLabel}</button>
      </div>
    </dialog>`;
  }
}
