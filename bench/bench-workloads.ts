/**
 * The workloads, written once against `BenchChannel` so every system runs
 * exactly the same code: the receiving side's handlers (sink, echo) and the
 * sending side's timed runs (bulk transfer, request/response).
 */
import { performance } from 'node:perf_hooks';
import type { BenchChannel } from './bench-channel.js';
import type { BenchDialer } from './bench-links.js';
import type { BulkWorkload, ChannelHandlerKind, RequestResponseWorkload, RunResult, Workload } from './bench-types.js';

/** Size of the sink's answer: the byte count it received, as a 64-bit big-endian integer. */
const COUNT_BYTES = 8;

/**
 * Receiving side: `sink` counts the bytes and, after the FIN, answers with the
 * count (so a system that loses bytes cannot post a figure); `echo` writes
 * back what it reads and FINs after the peer's FIN.
 */
export function handleChannel(kind: ChannelHandlerKind, channel: BenchChannel): void {
  channel.onError(() => {});
  if (kind === 'sink') {
    let received = 0;
    channel.onData((chunk) => {
      received += chunk.byteLength;
    });
    channel.onEnd(() => {
      const count = Buffer.alloc(COUNT_BYTES);
      count.writeBigUInt64BE(BigInt(received));
      channel.write(count);
      channel.end();
    });
  } else {
    channel.onData((chunk) => channel.write(chunk));
    channel.onEnd(() => channel.end());
  }
}

/** Sending side: runs `workload` through `dialer` and times it (wall clock). */
export async function runWorkload(dialer: BenchDialer, workload: Workload): Promise<RunResult> {
  const cpuBefore = process.cpuUsage();
  const run = workload.kind === 'bulk' ? await runBulk(dialer, workload) : await runRequests(dialer, workload);
  const cpu = process.cpuUsage(cpuBefore);
  return { ...run, senderCpuMs: (cpu.user + cpu.system) / 1000, receiverCpuMs: 0 };
}

/** What a workload measures; CPU times are added by `runWorkload`. */
type TimedRun = Omit<RunResult, 'senderCpuMs' | 'receiverCpuMs'>;

/** Resolves with the peer's whole reply once it has ended the channel (the reply is small: kept whole). */
function replyOf(channel: BenchChannel): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    channel.onData((chunk) => {
      chunks.push(chunk);
    });
    channel.onEnd(() => resolve(Buffer.concat(chunks)));
    channel.onError(reject);
  });
}

/** Checks the sink's count against what was sent. */
function checkCount(reply: Buffer, sentBytes: number): void {
  const received = reply.length === COUNT_BYTES ? Number(reply.readBigUInt64BE()) : -1;
  if (received !== sentBytes) throw new Error(`receiver counted ${received} bytes, ${sentBytes} were sent (reply of ${reply.length} bytes)`);
}

/**
 * Opens `channels` channels at once and sends `totalBytes / channels` on each
 * in `chunkBytes` writes, honouring backpressure; the clock stops when every
 * receiver has reported its byte count (checked).
 */
async function runBulk(dialer: BenchDialer, w: BulkWorkload): Promise<TimedRun> {
  const chunk = Buffer.alloc(w.chunkBytes, 0x61);
  const perChannelBytes = Math.floor(w.totalBytes / w.channels);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: w.channels }, async () => {
      const channel = await dialer.open();
      const reply = replyOf(channel);
      let leftBytes = perChannelBytes;
      while (leftBytes > 0) {
        const n = Math.min(leftBytes, chunk.length);
        leftBytes -= n;
        if (!channel.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await channel.drained();
      }
      channel.end();
      checkCount(await reply, perChannelBytes);
    }),
  );
  return { bytes: perChannelBytes * w.channels, ops: w.channels, elapsedMs: performance.now() - start };
}

/**
 * `concurrency` workers, each in a loop: open a fresh channel, write
 * `requestBytes`, FIN, wait for the whole echo (checked) and the peer's FIN.
 */
async function runRequests(dialer: BenchDialer, w: RequestResponseWorkload): Promise<TimedRun> {
  const payload = Buffer.alloc(w.requestBytes, 0x62);
  let issued = 0;
  const oneRequest = async (): Promise<void> => {
    const channel = await dialer.open();
    const echoed = replyOf(channel);
    channel.write(payload);
    channel.end();
    const reply = await echoed;
    if (!reply.equals(payload)) throw new Error(`echo returned ${reply.length} bytes that differ from the ${payload.length} sent`);
  };
  const worker = async (): Promise<void> => {
    while (issued < w.requests) {
      issued += 1;
      await oneRequest();
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(w.concurrency, w.requests) }, worker));
  return { bytes: 2 * w.requestBytes * w.requests, ops: w.requests, elapsedMs: performance.now() - start };
}
