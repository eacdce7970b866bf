/**
 * Visitor traffic over the last minutes in fixed time buckets: requests,
 * bytes each way and relay-produced errors per bucket, in one preallocated
 * array (a bucket is reused once it falls out of the window), so memory is
 * fixed whatever the traffic.
 */

/** Values of one bucket, in `TRAFFIC_FIELDS` order. */
export const TRAFFIC_FIELDS = ['requests', 'bytesToAgent', 'bytesFromAgent', 'errors'] as const;

/** The series as sent to the page: bucket start times (ms since the epoch) and one column per field. */
export interface TrafficPoints {
  bucketMs: number;
  /** Start of each bucket, oldest first. */
  t: number[];
  requests: number[];
  bytesToAgent: number[];
  bytesFromAgent: number[];
  errors: number[];
}

const WIDTH = TRAFFIC_FIELDS.length;

/** A ring of `bucketCount` buckets of `bucketMs` each. */
export class TrafficSeries {
  readonly bucketMs: number;
  readonly bucketCount: number;
  readonly #values: Float64Array;
  /** Absolute index (`floor(ms / bucketMs)`) of the newest bucket; -1 before the first add. */
  #head = -1;

  constructor(bucketMs: number, bucketCount: number) {
    this.bucketMs = bucketMs;
    this.bucketCount = bucketCount;
    this.#values = new Float64Array(bucketCount * WIDTH);
  }

  /** Adds one finished request at wall time `atMs`. */
  add(atMs: number, bytesToAgent: number, bytesFromAgent: number, isError: boolean): void {
    const offset = this.#slot(Math.floor(atMs / this.bucketMs));
    if (offset < 0) return;
    this.#values[offset] = (this.#values[offset] as number) + 1;
    this.#values[offset + 1] = (this.#values[offset + 1] as number) + bytesToAgent;
    this.#values[offset + 2] = (this.#values[offset + 2] as number) + bytesFromAgent;
    if (isError) this.#values[offset + 3] = (this.#values[offset + 3] as number) + 1;
  }

  /** The buckets that start after `afterMs` (all of the window by default) up to the one holding `nowMs`, oldest first. */
  points(nowMs: number, afterMs = -Infinity): TrafficPoints {
    const newest = Math.floor(nowMs / this.bucketMs);
    this.#advanceTo(newest);
    const out: TrafficPoints = { bucketMs: this.bucketMs, t: [], requests: [], bytesToAgent: [], bytesFromAgent: [], errors: [] };
    for (let index = newest - this.bucketCount + 1; index <= newest; index++) {
      const startMs = index * this.bucketMs;
      if (startMs <= afterMs) continue;
      const offset = this.#offsetOf(index);
      out.t.push(startMs);
      out.requests.push(this.#values[offset] as number);
      out.bytesToAgent.push(this.#values[offset + 1] as number);
      out.bytesFromAgent.push(this.#values[offset + 2] as number);
      out.errors.push(this.#values[offset + 3] as number);
    }
    return out;
  }

  /** Offset of bucket `index` once the ring has moved up to it; -1 when it is older than the window. */
  #slot(index: number): number {
    if (index > this.#head) this.#advanceTo(index);
    if (index <= this.#head - this.bucketCount) return -1;
    return this.#offsetOf(index);
  }

  #advanceTo(index: number): void {
    if (index <= this.#head) return;
    const from = Math.max(this.#head + 1, index - this.bucketCount + 1);
    for (let i = from; i <= index; i++) this.#values.fill(0, this.#offsetOf(i), this.#offsetOf(i) + WIDTH);
    this.#head = index;
  }

  #offsetOf(index: number): number {
    return (((index % this.bucketCount) + this.bucketCount) % this.bucketCount) * WIDTH;
  }
}
