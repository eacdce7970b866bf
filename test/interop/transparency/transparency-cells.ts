/**
 * The four cells of the transparency suite: {Go ref-agent, our agent} x
 * {Go ref-relay, our relay}, each with its own transparency service as the
 * agent's local service. A cell's processes are shared by all its cases.
 * Visitors use the same Host (`edge.tunnel.test`) in every cell, so what the
 * local service sees can be compared across cells.
 */
import { RefProcess, startRef } from '../../helpers/ref-process.js';
import {
  BASE_DOMAIN,
  createAgentToken,
  startAgent,
  startRelay,
  waitForRegistration,
  type RelayFixture,
  type Scope,
} from '../../relay/relay-fixtures.js';
import { startTransparencyService, type TransparencyService } from './transparency-service.js';

/** Which implementation plays a part. */
export type Peer = 'ours' | 'go';

/** One cell of the grid. */
export interface CellSpec {
  agent: Peer;
  relay: Peer;
}

/** A running cell. */
export interface TransparencyCell extends CellSpec {
  /** `our agent, Go relay` ... */
  name: string;
  /** `host:port` of the relay's public listener. */
  public: string;
  /** The Host header that reaches the main agent. */
  host: string;
  /** The main agent's local service. */
  service: TransparencyService;
  /**
   * A second agent with its own service, reached with its own Host (our
   * relay only: the Go relay sends every request to its newest agent).
   */
  second: { host: string; service: TransparencyService } | undefined;
  /** Our relay, when the cell has it (for its logs). */
  relayFixture: RelayFixture | undefined;
}

/** The agent name (and Host label) of the main agent. */
export const MAIN_AGENT = 'edge';
/** The agent name of the second agent (our relay only). */
export const SECOND_AGENT = 'edge2';

const GO_RELAY_TOKEN = 'transparency-token';

/** `our agent, Go relay`. */
export function cellName(spec: CellSpec): string {
  return `${spec.agent === 'ours' ? 'our agent' : 'Go ref-agent'}, ${spec.relay === 'ours' ? 'our relay' : 'Go ref-relay'}`;
}

/** Starts the relay, the agent(s) and their services of `spec`; everything stops with `scope`. */
export async function startCell(scope: Scope, spec: CellSpec): Promise<TransparencyCell> {
  const service = await startTransparencyService(scope, 'main');
  const host = `${MAIN_AGENT}.${BASE_DOMAIN}`;
  if (spec.relay === 'ours') {
    const fx = await startRelay(scope);
    await connect(scope, spec.agent, fx, MAIN_AGENT, service.addr);
    const secondService = await startTransparencyService(scope, 'second');
    await connect(scope, spec.agent, fx, SECOND_AGENT, secondService.addr);
    return {
      ...spec,
      name: cellName(spec),
      public: fx.addresses.public,
      host,
      service,
      second: { host: `${SECOND_AGENT}.${BASE_DOMAIN}`, service: secondService },
      relayFixture: fx,
    };
  }
  const relay = new RefProcess('ref-relay', ['-listen', '127.0.0.1:0', '-public', '127.0.0.1:0', '-token', GO_RELAY_TOKEN]);
  scope.after(() => relay.stop());
  const listening = await relay.waitForEvent('listening', () => true, { what: 'ref-relay listening' });
  const url = String(listening['url']);
  if (spec.agent === 'ours') {
    startAgent(scope, { relayUrl: url, token: GO_RELAY_TOKEN, localAddr: service.addr });
  } else {
    startRef(scope, 'ref-agent', ['-relay', url, '-token', GO_RELAY_TOKEN, '-local', service.addr]);
  }
  await relay.waitForEvent('agent_connected', () => true, { what: 'the agent to connect to ref-relay' });
  return { ...spec, name: cellName(spec), public: String(listening['public']), host, service, second: undefined, relayFixture: undefined };
}

/** Connects our agent or ref-agent for `name` to our relay and waits until it is registered. */
async function connect(scope: Scope, agent: Peer, fx: RelayFixture, name: string, localAddr: string): Promise<void> {
  const token = await createAgentToken(fx.relay, name);
  const registered = waitForRegistration(fx.relay, name);
  if (agent === 'ours') {
    startAgent(scope, { relayUrl: fx.addresses.agentUrl, token, localAddr });
  } else {
    const ref = startRef(scope, 'ref-agent', ['-relay', fx.addresses.agentUrl, '-token', token, '-local', localAddr]);
    await ref.waitForEvent('session_up');
  }
  await registered;
}
