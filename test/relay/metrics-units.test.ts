/**
 * RelayMetrics on its own: label values and their bounds, what reaches the
 * histograms, and the session counters driven by the agent registry.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentRegistry, OVERFLOW_AGENT_LABEL, RELAY_METRICS_PREFIX, RelayMetrics, type VisitorRequestRecord } from '../../src/relay/index.js';
import { metricValue, parseMetrics } from './admin-fixtures.js';

const P = RELAY_METRICS_PREFIX;

function record(overrides: Partial<VisitorRequestRecord>): VisitorRequestRecord {
  return {
    agent: 'edge-01',
    method: 'GET',
    url: '/',
    remoteAddress: '127.0.0.1',
    status: 200,
    outcome: 'completed',
    errorCode: undefined,
    durationMs: 12,
    responseHeadersMs: 5,
    bytesToAgent: 0,
    bytesFromAgent: 10,
    isUpgrade: false,
    ...overrides,
  };
}

async function samplesOf(metrics: RelayMetrics) {
  return parseMetrics(await metrics.text());
}

describe('RelayMetrics', () => {
  it('maps statuses to classes: none, 1xx to 5xx, and other', async (t) => {
    const metrics = new RelayMetrics({ registry: new AgentRegistry() });
    t.after(() => metrics.close());
    for (const status of [undefined, 101, 204, 302, 418, 503, 799]) metrics.recordRequest(record({ status }));
    const samples = await samplesOf(metrics);
    for (const cls of ['none', '1xx', '2xx', '3xx', '4xx', '5xx', 'other']) {
      assert.equal(metricValue(samples, `${P}requests_total`, { agent: 'edge-01', status_class: cls, code: '' }), 1, `one request in ${cls}`);
    }
  });

  it('counts agents beyond maxAgentSeries under one overflow label', async (t) => {
    const metrics = new RelayMetrics({ registry: new AgentRegistry(), maxAgentSeries: 2 });
    t.after(() => metrics.close());
    for (const agent of ['a-1', 'a-2', 'a-3', 'a-4', 'a-1']) metrics.recordRequest(record({ agent, bytesFromAgent: 1 }));
    const samples = await samplesOf(metrics);
    const agents = new Set(samples.filter((s) => s.name === `${P}requests_total`).map((s) => s.labels['agent']));
    assert.deepEqual([...agents].sort(), [OVERFLOW_AGENT_LABEL, 'a-1', 'a-2'].sort(), 'two agent labels plus the overflow one');
    assert.equal(metricValue(samples, `${P}requests_total`, { agent: 'a-1', status_class: '2xx', code: '' }), 2, 'a-1 keeps its series');
    assert.equal(
      metricValue(samples, `${P}requests_total`, { agent: OVERFLOW_AGENT_LABEL, status_class: '2xx', code: '' }),
      2,
      'a-3 and a-4 share the overflow series',
    );
    assert.equal(metricValue(samples, `${P}bytes_from_agent_total`, { agent: OVERFLOW_AGENT_LABEL }), 2, 'their bytes too');
  });

  it('keeps counting across scrapes (counters only grow)', async (t) => {
    const metrics = new RelayMetrics({ registry: new AgentRegistry() });
    t.after(() => metrics.close());
    metrics.recordRequest(record({ bytesToAgent: 5 }));
    const first = await samplesOf(metrics);
    metrics.recordRequest(record({ bytesToAgent: 7 }));
    const second = await samplesOf(metrics);
    const third = await samplesOf(metrics);
    const labels = { agent: 'edge-01', status_class: '2xx', code: '' };
    assert.equal(metricValue(first, `${P}requests_total`, labels), 1, 'one request at the first scrape');
    assert.equal(metricValue(second, `${P}requests_total`, labels), 2, 'two at the second');
    assert.equal(metricValue(third, `${P}requests_total`, labels), 2, 'still two at the third');
    assert.equal(metricValue(third, `${P}bytes_to_agent_total`, { agent: 'edge-01' }), 12, 'bytes add up');
  });

  it('keeps upgrades and exchanges without response headers out of the latency histograms', async (t) => {
    const metrics = new RelayMetrics({ registry: new AgentRegistry() });
    t.after(() => metrics.close());
    metrics.recordRequest(record({ isUpgrade: true, status: 101, durationMs: 60_000 }));
    metrics.recordRequest(record({ status: 502, outcome: 'bad-gateway', responseHeadersMs: undefined, errorCode: 'ERR_RELAY_BAD_GATEWAY' }));
    metrics.recordRequest(record({ status: 200, outcome: 'agent-reset', responseHeadersMs: 3 }));
    metrics.recordRequest(record({ durationMs: 1500, responseHeadersMs: 20 }));
    const samples = await samplesOf(metrics);
    assert.equal(metricValue(samples, `${P}response_headers_seconds_count`), 2, 'headers time for the two responses that had headers');
    assert.equal(metricValue(samples, `${P}request_duration_seconds_count`), 1, 'total time only for the completed exchange');
    assert.equal(metricValue(samples, `${P}request_duration_seconds_sum`), 1.5, 'in seconds');
    assert.equal(metricValue(samples, `${P}request_duration_seconds_bucket`, { le: '1' }), 0, 'not under 1 s');
    assert.equal(metricValue(samples, `${P}request_duration_seconds_bucket`, { le: '2.5' }), 1, 'under 2.5 s');
    assert.equal(
      metricValue(samples, `${P}requests_total`, { agent: 'edge-01', status_class: '5xx', code: 'ERR_RELAY_BAD_GATEWAY' }),
      1,
      'the relay-produced 502 with its code',
    );
  });

  it('counts auth failures by reason', async (t) => {
    const metrics = new RelayMetrics({ registry: new AgentRegistry() });
    t.after(() => metrics.close());
    metrics.recordAuthFailure('agent_token_invalid');
    metrics.recordAuthFailure('agent_token_invalid');
    metrics.recordAuthFailure('admin_token_missing');
    const samples = await samplesOf(metrics);
    assert.equal(metricValue(samples, `${P}auth_failures_total`, { reason: 'agent_token_invalid' }), 2, 'two invalid agent tokens');
    assert.equal(metricValue(samples, `${P}auth_failures_total`, { reason: 'admin_token_missing' }), 1, 'one missing admin token');
  });

  it('adds process metrics only when asked', async (t) => {
    const plain = new RelayMetrics({ registry: new AgentRegistry() });
    t.after(() => plain.close());
    assert.ok(!(await plain.text()).includes('visiona_tunnel_process_'), 'no process metrics by default');
    const withProcess = new RelayMetrics({ registry: new AgentRegistry(), processMetrics: true });
    t.after(() => withProcess.close());
    assert.ok((await withProcess.text()).includes('visiona_tunnel_process_resident_memory_bytes'), 'process metrics when asked');
  });
});
