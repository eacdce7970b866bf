/**
 * A visitor upgrade (WebSocket or any other protocol) passed through raw: the
 * request head is written to the stream as HTTP/1.1 text, then bytes are
 * piped both ways, with half-close (a visitor FIN becomes a stream FIN and
 * the other way round). When either side fails, both are torn down, the
 * stream with RST.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MuxStream } from '../mux/index.js';

/** What `forwardUpgrade` needs. */
export interface UpgradeForwardOptions {
  req: IncomingMessage;
  /** The visitor's socket, as the server's 'upgrade' event gave it. */
  socket: Duplex;
  /** Bytes the server read past the request head. */
  head: Buffer;
  stream: MuxStream;
  /** Origin-form target sent to the agent. */
  path: string;
  /** Headers sent to the agent (Connection/Upgrade kept). */
  headers: OutgoingHttpHeaders;
}

/** How an upgrade ended. */
export interface UpgradeResult {
  /** True when both directions ended cleanly (FIN both ways). */
  clean: boolean;
  bytesToAgent: number;
  bytesFromAgent: number;
}

/** Serializes an origin-form request head; values are written as Latin-1, as Node's parser read them. */
export function formatRequestHead(method: string, path: string, headers: OutgoingHttpHeaders): Buffer {
  let text = `${method} ${path} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [String(value)];
    for (const v of values) {
      if (/[\r\n\0]/.test(name) || /[\r\n\0]/.test(v)) throw new TypeError(`Invalid header for an upgrade request (header: ${name})`);
      text += `${name}: ${v}\r\n`;
    }
  }
  return Buffer.from(`${text}\r\n`, 'latin1');
}

/** Pipes an upgrade through `stream`; resolves once both directions are done (never rejects). */
export async function forwardUpgrade(o: UpgradeForwardOptions): Promise<UpgradeResult> {
  const { socket, stream } = o;
  let bytesToAgent = o.head.length;
  let bytesFromAgent = 0;
  stream.write(formatRequestHead(o.req.method ?? 'GET', o.path, o.headers));
  if (o.head.length > 0) stream.write(o.head);
  const toAgent = pipeline(socket, stream);
  const fromAgent = pipeline(stream, socket);
  socket.on('data', (chunk: Buffer) => {
    bytesToAgent += chunk.length;
  });
  stream.on('data', (chunk: Buffer) => {
    bytesFromAgent += chunk.length;
  });
  const [up, down] = await Promise.allSettled([toAgent, fromAgent]);
  const clean = up.status === 'fulfilled' && down.status === 'fulfilled';
  if (!clean) {
    // pipeline() destroyed both already; make sure the stream went with RST and the visitor with a reset.
    stream.destroy();
    socket.destroy();
  }
  return { clean, bytesToAgent, bytesFromAgent };
}
