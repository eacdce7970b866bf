/**
 * Process-group helpers for the spawned local service: the shell that runs
 * `--spawn` leads its own group, and the service it starts is a member, so
 * signals go to the whole group and "stopped" means no member is left.
 */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * True while a process of group `pgid` runs. On Linux, members are read from
 * /proc and zombies do not count: where PID 1 does not reap orphans (some
 * containers), a dead service stays a zombie that `kill(-pgid, 0)` would
 * still report as alive. Elsewhere `kill(-pgid, 0)` decides.
 */
export function isProcessGroupAlive(pgid: number): boolean {
  if (process.platform === 'linux') {
    let entries: string[];
    try {
      entries = readdirSync('/proc');
    } catch {
      return signalZero(-pgid);
    }
    for (const name of entries) {
      if (!/^\d+$/.test(name)) continue;
      const stat = readStat(name);
      if (stat !== undefined && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') return true;
    }
    return false;
  }
  return signalZero(-pgid);
}

/** True while process `pid` runs (not a zombie, on Linux). */
export function isProcessAlive(pid: number): boolean {
  if (process.platform === 'linux') {
    const stat = readStat(String(pid));
    return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
  }
  return signalZero(pid);
}

/** Sends `signal` to every process of group `pgid`; a group already gone is fine. */
export function signalProcessGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing left in the group.
  }
}

function readStat(pid: string): { state: string; pgrp: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const pgrp = Number(fields[2]);
  return state === undefined || !Number.isInteger(pgrp) ? undefined : { state, pgrp };
}

function signalZero(target: number): boolean {
  try {
    process.kill(target, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
