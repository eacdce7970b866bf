// @ts-check
/** A small time-series chart (uPlot on a canvas), resized with its box. */
import uPlot from './vendor/uplot.mjs';
import { Component, createRef, html } from './view.js';

/**
 * @typedef {{ label: string, stroke: string, fill?: string }} ChartSeries
 * @typedef {{ series: ChartSeries[], data: number[][], height?: number, format?: (v: number) => string, title: string }} ChartProps
 */

/** @extends {Component<ChartProps, {}>} */
export class Chart extends Component {
  constructor(/** @type {ChartProps} */ props) {
    super(props);
    this.box = createRef();
    /** @type {uPlot | null} */
    this.plot = null;
    /** @type {ResizeObserver | null} */
    this.resize = null;
  }

  componentDidMount() {
    const box = /** @type {HTMLElement} */ (this.box.current);
    const { series, height = 120, format = String } = this.props;
    this.plot = new uPlot(
      {
        width: Math.max(200, box.clientWidth),
        height,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [
          {
            stroke: '#5b6475',
            grid: { stroke: '#eef0f4' },
            ticks: { stroke: '#dfe3ea' },
            values: (_u, splits) => splits.map((s) => new Date(s * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })),
          },
          { stroke: '#5b6475', grid: { stroke: '#eef0f4' }, ticks: { stroke: '#dfe3ea' }, size: 56, values: (_u, splits) => splits.map(format) },
        ],
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, fill: s.fill, width: 1.5, points: { show: false } }))],
      },
      /** @type {any} */ (this.props.data),
      box,
    );
    this.resize = new ResizeObserver(() => this.plot?.setSize({ width: Math.max(200, box.clientWidth), height }));
    this.resize.observe(box);
  }

  componentDidUpdate() {
    this.plot?.setData(/** @type {any} */ (this.props.data));
  }

  componentWillUnmount() {
    this.resize?.disconnect();
    this.plot?.destroy();
  }

  shouldComponentUpdate(/** @type {ChartProps} */ next) {
    return next.data !== this.props.data;
  }

  render() {
    return html`<div class="chart-canvas" ref=${this.box} role="img" aria-label=${this.props.title}></div>`;
  }
}
