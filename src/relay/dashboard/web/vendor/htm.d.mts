// Types of the browser copy of htm served as dashboard/assets/vendor/htm.mjs (for `npm run lint` only).
import htm from 'htm';
export default htm;
