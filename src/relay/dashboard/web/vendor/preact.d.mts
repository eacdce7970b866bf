// Types of the browser copy of preact served as dashboard/assets/vendor/preact.mjs (for `npm run lint` only).
export * from 'preact';
