// Types of the browser copy of uPlot served as dashboard/assets/vendor/uplot.mjs (for `npm run lint` only).
import uPlot from 'uplot';
export default uPlot;
