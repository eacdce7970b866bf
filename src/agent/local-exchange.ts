/**
 * The local forwarder's state for one tunnel stream (one HTTP/1.1 exchange,
 * or one upgraded connection), shared by `LocalForwarder` and
 * `forwardUpgrade`. Internal to the agent: not exported from the package.
 */
import type http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { TimerHandle } from '../shared/clock.js';

/** Per-stream state of the local forwarder; `done` is set once, when the exchange is recorded. */
export interface LocalExchange {
  readonly stream: Duplex;
  /** `monotonicMs()` when the stream was handed over. */
  readonly startedMs: number;
  started: boolean;
  done: boolean;
  method: string;
  path: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  upgrade: boolean;
  retried: boolean;
  rawHeaders?: string[];
  /** Copies of the body's chunks while it fits `recordRequestBodyBytes`; null once it does not. */
  bodyChunks: Buffer[] | null;
  bodyComplete: boolean;
  /** Interim responses may be passed on this stream (the relay announced them). */
  readonly interimResponses: boolean;
  /** A `100 Continue` was passed on already. */
  sentContinue: boolean;
  /** The local service's response arrived complete (later errors only concern the request body). */
  localResponseEnded: boolean;
  /** The service answered `Expect: 100-continue` with a final response: the body is never sent to it. */
  bodyWithheld?: boolean;
  localReq?: http.ClientRequest;
  /** The raw local connection of an upgrade (pooled connections belong to their request). */
  upgradeSocket?: net.Socket;
  connectTimer?: TimerHandle;
}
