/**
 * Errors of the agent that callers act on differently: a refused token (stop
 * hammering the relay, tell the user) versus a lost relay connection (redial).
 */
import { TunnelError } from '../shared/errors.js';

/** The relay refused the agent's token: the WebSocket upgrade was answered 401 or 403. */
export class AgentAuthRejectedError extends TunnelError {
  /** HTTP status of the refusal (401 or 403). */
  readonly statusCode: number;

  constructor(statusCode: number, options?: { cause?: unknown }) {
    super('ERR_AGENT_AUTH_REJECTED', `Relay rejected the agent token (status: ${statusCode})`, options);
    this.statusCode = statusCode;
  }
}

/**
 * The relay connection ended without a GoAway and without a keepalive
 * timeout: close frame received, TCP end or reset. `closeCode` is the
 * WebSocket close code (1006 when the connection ended without a close frame),
 * undefined when none was known.
 */
export class RelayDisconnectedError extends TunnelError {
  readonly closeCode: number | undefined;
  readonly closeReason: string | undefined;

  constructor(closeCode: number | undefined, closeReason: string | undefined, options?: { cause?: unknown }) {
    const detail = closeCode === undefined ? 'code: unknown' : `code: ${closeCode}${closeReason ? `, reason: ${closeReason}` : ''}`;
    super('ERR_TRANSPORT_CLOSED', `Relay connection closed (${detail})`, options);
    this.closeCode = closeCode;
    this.closeReason = closeReason;
  }
}

/**
 * The relay (node) asked this link to connect elsewhere: 503 with
 * `ERR_RELAY_DRAINING` (the node drains) or `ERR_RELAY_LINK_ON_THIS_NODE`
 * (another link of this agent is there). The link redials at once, to the
 * next relay URL or through the load balancer to another node.
 */
export class RelayElsewhereError extends TunnelError {
  /** The relay's refusal code. */
  readonly relayCode: string;

  constructor(relayCode: string, options?: { cause?: unknown }) {
    super('ERR_AGENT_RELAY_ELSEWHERE', `Relay node refused this link and sent it elsewhere (${relayCode})`, options);
    this.relayCode = relayCode;
  }
}

/**
 * The relay sent GoAway(normal) on a running session: it drains or hands the
 * link over. The link opens its replacement first, while the old session's
 * streams finish (make before break).
 */
export class RelayMovedError extends TunnelError {
  constructor() {
    super('ERR_AGENT_RELAY_MOVED', 'The relay asked this link to move (GoAway normal); its replacement is dialed while the old session drains');
  }
}
