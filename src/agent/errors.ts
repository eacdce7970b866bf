/**
 * Errors of the agent that callers act on differently: a refused token (stop
 * hammering the relay, tell the user) versus a lost relay connection (redial).
 */
import { TunnelError } from '../shared/errors.js';

/** The relay refused the agent's token: the WebSocket upgrade was answered 401 or 403. */
export class AgentAuthRejectedError extends TunnelError {
  /** HTTP status of the refusal (401 or 403). */
  readonly statusCode: number;
  /** What a person should do about it (a refused token does not fix itself). */
  readonly hint = 'the token is wrong or revoked: create one on the relay (visiona-tunnel token create NAME) and give it to the agent';

  constructor(statusCode: number, options?: { cause?: unknown }) {
    super('ERR_AGENT_AUTH_REJECTED', `Relay rejected the agent token (status: ${statusCode})`, options);
    this.statusCode = statusCode;
  }
}

/**
 * The relay answered the connect request 404: nothing listens for agents at
 * that path (a `--relay` URL without `/tunnel/connect`, or a proxy that does
 * not pass it on).
 */
export class AgentEndpointNotFoundError extends TunnelError {
  /** HTTP status of the refusal (404). */
  readonly statusCode: number;
  /** The path that was dialled. */
  readonly path: string;
  /** What a person should do about it. */
  readonly hint: string;

  constructor(statusCode: number, path: string, expectedPath: string, options?: { cause?: unknown }) {
    super('ERR_AGENT_ENDPOINT_NOT_FOUND', `Relay has no tunnel endpoint at this path (status: ${statusCode}, path: ${path})`, options);
    this.statusCode = statusCode;
    this.path = path;
    this.hint = `the relay's tunnel endpoint is ${expectedPath}: dial ws(s)://HOST:PORT${expectedPath}`;
  }
}

/**
 * True for refusals that do not fix themselves by retrying (a wrong or
 * revoked token, a wrong path): the agent logs them at `error` and, when
 * told to, gives up after a number of identical ones.
 */
export function isRelayRefusal(err: Error): err is AgentAuthRejectedError | AgentEndpointNotFoundError {
  return err instanceof AgentAuthRejectedError || err instanceof AgentEndpointNotFoundError;
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
