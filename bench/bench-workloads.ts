/**
 * The workloads, written once against `BenchChannel` so every system runs
 * exactly the same code: the receiving side's handlers (sink, echo) and the
 * sending side's timed runs (bulk transfer, request/response).
 */
import { performance } from 'node:perf_hooks';
import type { BenchChannel } from './bench-channel.js';
import type { BenchDialer } from './bench-links.js';
import type { BulkWorkload, ChannelHandlerKind, RequestResponseWorkload, RunResult, Workload } from './bench-types.js';

const ACK = Buffer.from('k');

/** Receiving side: `sink` counts bytes and answers one byte after the FIN; `echo` writes back what it reads. */
export function handleChannel(kind: ChannelHandlerKind, channel: BenchChannel): void {
  channel.onError(() => {});
  if (kind === 'sink') {
    channel.onData(() => {});
    channel.onEnd(() => {
      channel.write(ACK);
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

/** Resolves once the peer has ended the channel after sending exactly `expectBytes`. */
function replyOf(channel: BenchChannel, expectBytes: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let got = 0;
    channel.onData((chunk) => {
      got += chunk.byteLength;
    });
    channel.onEnd(() => (got === expectBytes ? resolve() : reject(new Error(`peer replied ${got} bytes, expected ${expectBytes}`))));
    channel.onError(reject);
  });
}

/**
 * Opens `channels` channels at once and sends `totalBytes / channels` on each
 * in `chunkBytes` writes, honouring backpressure; the clock stops when every
 * receiver has acknowledged its last byte.
 */
async function runBulk(dialer: BenchDialer, w: BulkWorkload): Promise<TimedRun> {
  const chunk = Buffer.alloc(w.chunkBytes, 0x61);
  const perChannelBytes = Math.floor(w.totalBytes / w.channels);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: w.channels }, async () => {
      const channel = await dialer.open();
      const acked = replyOf(channel, ACK.length);
      let leftBytes = perChannelBytes;
      while (leftBytes > 0) {
        const n = Math.min(leftBytes, chunk.length);
        leftBytes -= n;
        if (!channel.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await channel.drained();
      }
      channel.end();
      await acked;
    }),
  );
  return { bytes: perChannelBytes * w.channels, ops: w.channels, elapsedMs: performance.now() - start };
}

/**
 * `concurrency` workers, each in a loop: open a fresh channel, write
 * `requestBytes`, FIN, wait for the whole echo and the peer's FIN.
 */
async function runRequests(dialer: BenchDialer, w: RequestResponseWorkload): Promise<TimedRun> {
  const payload = Buffer.alloc(w.requestBytes, 0x62);
  let issued = 0;
  const oneRequest = async (): Promise<void> => {
    const channel = await dialer.open();
    const echoed = replyOf(channel, w.requestBytes);
    channel.write(payload);
    channel.end();
    await echoed;
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
