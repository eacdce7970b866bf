// @ts-check
/** The view layer: preact with htm templates (no build step); data goes in as text, never as HTML. */
import { Component, createRef, h, render } from './vendor/preact.mjs';
import htm from './vendor/htm.mjs';

/** Tagged templates producing preact elements. */
export const html = htm.bind(h);
export { Component, createRef, render };
