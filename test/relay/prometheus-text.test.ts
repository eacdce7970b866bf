/**
 * The relay's Prometheus text writer on its own: the exposition format
 * details that `prom-client` wrote before it (escaping, cumulative buckets,
 * `+Inf`, series order, zero-valued label-less families).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CounterFamily, GaugeFamily, HistogramFamily, PROMETHEUS_TEXT_CONTENT_TYPE, writeMetricFamilies } from '../../src/relay/prometheus-text.js';

describe('Prometheus text writer', () => {
  it('writes a label-less counter as 0 before any increment, and a labelled one with no series', () => {
    const text = writeMetricFamilies([new CounterFamily('a_total', 'A.'), new CounterFamily('b_total', 'B.', true)]);
    assert.equal(text, '# HELP a_total A.\n# TYPE a_total counter\na_total 0\n\n# HELP b_total B.\n# TYPE b_total counter\n', 'headers, one zero sample, families apart by a blank line');
  });

  it('keeps series in first-seen order and adds to the series of equal label sets', () => {
    const c = new CounterFamily('r_total', 'R.', true);
    c.inc({ agent: 'b', code: '' });
    c.inc({ agent: 'a', code: 'X' }, 2);
    c.inc({ code: '', agent: 'b' }, 3);
    assert.deepEqual(writeMetricFamilies([c]).split('\n').slice(2, 4), ['r_total{agent="b",code=""} 4', 'r_total{agent="a",code="X"} 2'], 'b first with 1 + 3');
  });

  it('escapes backslashes, newlines and quotes in label values, and backslashes and newlines in help', () => {
    const c = new CounterFamily('e_total', 'line\\one\nline two "q"', true);
    c.inc({ agent: 'a"b\\c\nd' });
    assert.equal(
      writeMetricFamilies([c]),
      '# HELP e_total line\\\\one\\nline two "q"\n# TYPE e_total counter\ne_total{agent="a\\"b\\\\c\\nd"} 1\n',
      'escaped as prom-client does',
    );
  });

  it('reads gauges when written, showing only the labelled series set in that read', () => {
    let agents = ['x', 'y'];
    const g = new GaugeFamily('rtt', 'RTT.', true, (set) => {
      for (const a of agents) set({ agent: a }, 0.5);
    });
    assert.match(writeMetricFamilies([g]), /rtt\{agent="y"\} 0\.5/, 'y while online');
    agents = ['x'];
    assert.doesNotMatch(writeMetricFamilies([g]), /agent="y"/, 'y gone once offline');
  });

  it('writes histograms with cumulative buckets, +Inf, sum and count', () => {
    const h = new HistogramFamily('d_seconds', 'D.', [0.1, 1]);
    for (const v of [0.05, 0.1, 0.5, 7]) h.observe(v);
    assert.deepEqual(
      writeMetricFamilies([h]).split('\n').slice(2),
      ['d_seconds_bucket{le="0.1"} 2', 'd_seconds_bucket{le="1"} 3', 'd_seconds_bucket{le="+Inf"} 4', 'd_seconds_sum 7.65', 'd_seconds_count 4', ''],
      'bounds inclusive, values above the last bound only in +Inf',
    );
  });

  it('names the text format version in its content type', () => {
    assert.equal(PROMETHEUS_TEXT_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8', 'format 0.0.4');
  });
});
