/**
 * The yamux fuzzer (issue 6, "Hostile input"): a million inputs per run by
 * default (`FUZZ_INPUTS=N` for more or fewer), each fed to a fresh `Session`
 * (client or server role, four ways of taking inbound streams, small limits)
 * over the in-memory pair, synchronously. Three generators (see
 * `mux-fuzz-inputs.ts`): arbitrary bytes, frame sequences with random header
 * fields interleaved with garbage, and valid sequences from a model.
 *
 * Each input must leave: no exception (an 'uncaughtException' and
 * 'unhandledRejection' guard is installed for the run), no hang (the input
 * is decoded inside the write that carries it; the invariants are checked
 * at once and again after the event loop turned, or after the session's
 * next write for a lazy ACK), bounded memory (streams
 * within `maxStreams`/`acceptBacklog`, each within one window), and every
 * violation answered by exactly one GoAway with code 1 or 2 before the
 * transport is ended. Valid inputs must leave the session open, every SYN
 * acknowledged and every ping answered.
 *
 * Inputs run in batches of one fast-check `assert` each (a failure inside
 * the batch is shrunk by fast-check); between batches the event loop turns.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import fc from 'fast-check';
import { Flag, FrameType } from '../../src/mux/index.js';
import { frameSequenceInput, rawBytesInput, validSequenceInput, type FuzzInput } from './mux-fuzz-inputs.js';
import { FuzzTarget, type FuzzOutcome } from './mux-fuzz-target.js';

/** Inputs per run: `FUZZ_INPUTS` or one million. */
function inputCount(): number {
  const raw = process.env['FUZZ_INPUTS'];
  if (raw === undefined || raw === '') return 1_000_000;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`FUZZ_INPUTS must be a positive integer (got: ${raw})`);
  return n;
}

const BATCH_SIZE = 200;

/** How long a valid input's lazy ACK may take before the check fails (far above `LAZY_FLUSH_DELAY_MS`). */
const LAZY_WRITE_BOUND_MS = 1000;

const anyInput: fc.Arbitrary<FuzzInput> = fc.oneof(
  { weight: 3, arbitrary: rawBytesInput },
  { weight: 6, arbitrary: frameSequenceInput },
  { weight: 1, arbitrary: validSequenceInput },
);

/** What a valid input must have received once the event loop turned; a description of the first miss, or undefined. */
function checkValidAnswers(target: FuzzTarget): string | undefined {
  const expect = target.input.expect;
  if (expect === undefined) return undefined;
  if (target.session.isClosed) return `a valid input closed the session: ${String(target.session.closeReason)}`;
  const acks = target.sent.filter((h) => h.type === FrameType.WindowUpdate && (h.flags & Flag.ACK) !== 0).length;
  if (acks !== expect.opens) return `${expect.opens} streams opened, ${acks} acknowledged`;
  if (target.sent.some((h) => (h.flags & Flag.RST) !== 0)) return 'a stream of a valid input was reset';
  const answered = target.sent.filter((h) => h.type === FrameType.Ping && (h.flags & Flag.ACK) !== 0).map((h) => h.length);
  if (answered.length !== expect.pings.length || answered.some((v, i) => v !== expect.pings[i])) {
    return `pings ${expect.pings.join(',')} answered with ${answered.join(',')}`;
  }
  return undefined;
}

function describeInput(input: FuzzInput): string {
  return JSON.stringify({ ...input, chunks: input.chunks.map((c) => (c.length > 64 ? `${c.subarray(0, 64).toString('hex')}... (${c.length} bytes)` : c.toString('hex'))) });
}

describe('yamux Session under fuzz', () => {
  it('survives every input without a crash, a hang or unbounded memory, answering each violation with GoAway', async (t) => {
    const total = inputCount();
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => {
      uncaught.push(err);
    };
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
    // Error stacks are most of the cost of a failing session; the messages are all the fuzzer needs.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    t.after(() => {
      Error.stackTraceLimit = stackTraceLimit;
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUncaught);
    });

    const outcomes: Record<FuzzOutcome, number> = { open: 0, 'goaway-1': 0, 'goaway-2': 0, 'peer-goaway': 0 };
    const kinds: Record<FuzzInput['kind'], number> = { bytes: 0, frames: 0, valid: 0 };
    let inputsRun = 0;
    let bytesFed = 0;
    const startedMs = performance.now();
    while (inputsRun < total) {
      const runs = Math.min(BATCH_SIZE, total - inputsRun);
      const batch: FuzzTarget[] = [];
      try {
        fc.assert(
          fc.property(anyInput, (input) => {
            const target = new FuzzTarget(input);
            batch.push(target);
            target.feed();
            const broken = target.check();
            if (broken !== undefined) throw new Error(broken);
          }),
          { numRuns: runs },
        );
        // Let the sessions flush what they queued (ACKs, window updates, ping answers) and read what they hold.
        await turn();
        for (const target of batch.slice(0, runs)) {
          // An ACK with nothing else to send is a lazy frame: it leaves on its own within LAZY_FLUSH_DELAY_MS.
          if (checkValidAnswers(target) !== undefined) await target.waitForNextWrite(LAZY_WRITE_BOUND_MS);
          const broken = target.check() ?? checkValidAnswers(target);
          if (broken !== undefined) assert.fail(`after the event loop turned: ${broken}; input: ${describeInput(target.input)}`);
          outcomes[target.outcome()] += 1;
          kinds[target.input.kind] += 1;
          bytesFed += target.bytesIn;
        }
      } finally {
        for (const target of batch) target.destroy();
      }
      inputsRun += runs;
      assert.deepEqual(uncaught, [], `no uncaught exception or unhandled rejection (after ${inputsRun} inputs)`);
    }
    await turn();
    assert.deepEqual(uncaught, [], 'no uncaught exception or unhandled rejection after the last sessions were torn down');
    const seconds = (performance.now() - startedMs) / 1000;
    t.diagnostic(
      `mux fuzz: ${inputsRun} inputs run (${kinds.bytes} arbitrary bytes, ${kinds.frames} frame sequences, ${kinds.valid} valid sequences), ` +
        `${(bytesFed / 1e6).toFixed(1)} MB fed in ${seconds.toFixed(1)} s; ` +
        `outcomes: ${outcomes.open} stayed open, ${outcomes['goaway-1']} GoAway(1), ${outcomes['goaway-2']} GoAway(2), ${outcomes['peer-goaway']} ended by the peer's GoAway`,
    );
    assert.equal(inputsRun, total, 'every input ran');
    assert.ok(outcomes.open > 0 && outcomes['goaway-1'] > 0, 'the generators reach both surviving sessions and protocol errors');
  });
});
