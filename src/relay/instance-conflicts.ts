/**
 * Two running agent processes with the same token take the agent's link from
 * each other on every reconnect (newest wins), and would do so forever,
 * silently. This tracker notices it: a link taken over by another instance,
 * then taken back by the first (A, B, A ...) within `windowMs`, puts the
 * agent "in conflict", which the operator sees (admin API, a metric). While
 * in conflict the instance that holds the link keeps it: the other one is
 * refused (`409`, `ERR_RELAY_AGENT_CONFLICT`, with `Retry-After`) instead of
 * fighting, until `windowMs` passes without a takeover. A restarting agent
 * is never affected: each process start has a new instance id, which never
 * comes back. Agents that send no instance id (the Go agent) are not
 * tracked.
 */
import type { Clock } from '../shared/clock.js';

/** An agent whose link is fought over. */
export interface AgentConflict {
  readonly agentName: string;
  /** The instances seen taking the link within the window, the current holder first. */
  readonly instances: readonly string[];
  /** Takeovers between different instances within the window. */
  readonly takeovers: number;
  readonly firstAtMs: number;
  readonly lastAtMs: number;
}

interface Track {
  holder: string;
  /** Instances that held the link, in order, within the window. */
  history: { instance: string; atMs: number }[];
  inConflict: boolean;
}

/** Takeovers within the window that make a conflict, at least (A, B, A). */
const TAKEOVERS_FOR_CONFLICT = 2;

/** Per-agent takeovers between running instances. */
export class InstanceConflicts {
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #tracks = new Map<string, Track>();
  #total = 0;

  constructor(options: { clock: Clock; windowMs?: number }) {
    this.#clock = options.clock;
    this.#windowMs = options.windowMs ?? 60_000;
  }

  /** Takeovers between different instances counted so far (a counter). */
  get totalTakeovers(): number {
    return this.#total;
  }

  /** Records that `instanceId` now holds the link of `agentName` (the previous holder, if known, is tracked already). */
  noteHolder(agentName: string, instanceId: string | null | undefined): void {
    if (instanceId === null || instanceId === undefined) return;
    const now = this.#clock.now();
    const track = this.#tracks.get(agentName);
    if (track === undefined) {
      this.#tracks.set(agentName, { holder: instanceId, history: [{ instance: instanceId, atMs: now }], inConflict: false });
      this.#prune(now);
      return;
    }
    if (track.holder === instanceId) return;
    this.#total += 1;
    track.holder = instanceId;
    track.history = track.history.filter((h) => now - h.atMs <= this.#windowMs);
    // An instance that held the link before takes it back: two are running.
    const cameBack = track.history.some((h) => h.instance === instanceId);
    track.history.push({ instance: instanceId, atMs: now });
    if (cameBack && track.history.length > TAKEOVERS_FOR_CONFLICT) track.inConflict = true;
  }

  /** True when `instanceId` must be refused: the agent is in conflict and another instance holds its link. */
  shouldRefuse(agentName: string, instanceId: string | undefined): boolean {
    const track = this.#current(agentName);
    return track !== undefined && track.inConflict && instanceId !== undefined && instanceId !== track.holder;
  }

  /** The agents in conflict now. */
  conflicts(): AgentConflict[] {
    const out: AgentConflict[] = [];
    for (const name of [...this.#tracks.keys()].sort()) {
      const c = this.conflictOf(name);
      if (c !== undefined) out.push(c);
    }
    return out;
  }

  /** The agent's conflict, if it is in one. */
  conflictOf(agentName: string): AgentConflict | undefined {
    const track = this.#current(agentName);
    if (track === undefined || !track.inConflict) return undefined;
    const instances = [track.holder, ...new Set(track.history.map((h) => h.instance).filter((i) => i !== track.holder))];
    return {
      agentName,
      instances,
      takeovers: track.history.length - 1,
      firstAtMs: track.history[0]?.atMs ?? 0,
      lastAtMs: track.history[track.history.length - 1]?.atMs ?? 0,
    };
  }

  /** The track, with a conflict ended once `windowMs` passed without a takeover. */
  #current(agentName: string): Track | undefined {
    const track = this.#tracks.get(agentName);
    if (track === undefined) return undefined;
    const last = track.history[track.history.length - 1];
    if (track.inConflict && last !== undefined && this.#clock.now() - last.atMs > this.#windowMs) {
      track.inConflict = false;
      track.history = [last];
    }
    return track;
  }

  /** Forgets quiet agents, so the map stays the size of the agents that changed hands lately. */
  #prune(now: number): void {
    if (this.#tracks.size < 1024) return;
    for (const [name, track] of this.#tracks) {
      const last = track.history[track.history.length - 1];
      if (!track.inConflict && (last === undefined || now - last.atMs > this.#windowMs)) this.#tracks.delete(name);
    }
  }
}
