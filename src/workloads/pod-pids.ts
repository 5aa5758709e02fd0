// A pod's PIDs, read at scrape time from the host's cgroup file system: how many tasks it
// holds (pids.current), its limit (pids.max, which kubelet's podPidsLimit sets on the pod's
// cgroup) and how many of its forks the kernel refused (the "max" count of pids.events).
//
// Where the files are (Documentation/admin-guide/cgroup-v1/pids.rst, cgroup-v2.rst "PID"):
//   v1: <root>/pids/<pod cgroup>/pids.{current,max,events}   (its own hierarchy)
//   v2: <root>/<pod cgroup>/pids.{current,max,events}        (pids listed in <root>/cgroup.controllers)
//
// Which cgroup counts a refused fork depends on the hierarchy (kernel/cgroup/pids.c,
// pids_event and __pids_events_show):
//   - v1, and v2 mounted with pids_localevents or on kernels without pids.events.local:
//     "local". pids.events counts the forks that failed *from inside that cgroup*, whichever
//     ancestor's limit was hit. A pod's processes live in its containers' cgroups, so a fork
//     refused at the pod's limit is counted in the container's pids.events, and the pod's
//     own file stays at 0 (seen on this project's test machines: a parent with pids.max 5 and
//     a child cgroup forking past it read "max 1" in the child and "max 0" in the parent).
//     The pod's count is therefore the sum over the pod's cgroup and all its descendants.
//   - v2 on kernels with pids.events.local, without pids_localevents: "hierarchical".
//     pids.events counts, in the cgroup whose limit was hit and in each of its ancestors, the
//     forks refused there: the pod's own file already includes its containers' limits, and
//     summing descendants would count a refusal twice.
// A local count disappears with its cgroup (a restarted container gets a new one), so the
// reader remembers each cgroup's last count and keeps it once the cgroup is gone: the pod's
// total never goes backwards while forkwatch runs. Refusals in a container created and
// removed between two reads are missed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PodWorkload } from './layouts.js';

export interface PodPids {
  /** Tasks (processes and threads) in the pod's cgroup and below. */
  current: number;
  /** The pod's own pids.max; undefined when it is "max" (unlimited). */
  limit?: number;
  /** Forks the kernel refused for the pod (see the file's comment for what counts). */
  refused: number;
}

export type RefusalCounting = 'local' | 'hierarchical';

export interface PidsHierarchy {
  version: 1 | 2;
  /** The hierarchy's root directory: <cgroup root>/pids on v1, the cgroup2 mount on v2. */
  dir: string;
  /** pids.events counts locally: always on v1; on v2 when cgroup2 is mounted with pids_localevents. */
  localEvents: boolean;
}

/** A pod's cgroup subtree is walked at most this deep and this wide (a container may make cgroups). */
const MAX_DEPTH = 16;
const MAX_CGROUPS = 4096;

/**
 * Finds the pids controller under `cgroupRoot` (e.g. /sys/fs/cgroup, or /host/sys/fs/cgroup
 * in the DaemonSet): a v1 pids hierarchy at <root>/pids, else a cgroup2 tree at <root> (or
 * a hybrid host's <root>/unified) that offers pids. Undefined when there is none.
 * `mounts` is the text of /proc/self/mounts, for cgroup2's pids_localevents option.
 */
export function findPidsHierarchy(cgroupRoot: string, mounts = readText('/proc/self/mounts') ?? ''): PidsHierarchy | undefined {
  const v1 = join(cgroupRoot, 'pids');
  // A v1 root has cgroup.procs but no cgroup.controllers (a v2 child named "pids" has both).
  if (existsSync(join(v1, 'cgroup.procs')) && !existsSync(join(v1, 'cgroup.controllers'))) {
    return { version: 1, dir: v1, localEvents: true };
  }
  const localEvents = mounts
    .split('\n')
    .some((line) => line.split(' ')[2] === 'cgroup2' && (line.split(' ')[3] ?? '').split(',').includes('pids_localevents'));
  for (const dir of [cgroupRoot, join(cgroupRoot, 'unified')]) {
    const controllers = readText(join(dir, 'cgroup.controllers'));
    if (controllers?.split(/\s+/).includes('pids')) return { version: 2, dir, localEvents };
  }
  return undefined;
}

/** How refused forks are counted in `podDir` (see the file's comment). */
export function refusalCounting(hierarchy: PidsHierarchy, podDir: string): RefusalCounting {
  if (hierarchy.version === 1 || hierarchy.localEvents) return 'local';
  return existsSync(join(podDir, 'pids.events.local')) ? 'hierarchical' : 'local';
}

/** Reads pods' PIDs; keeps, per pod, the local refusal counts of cgroups that have gone. */
export class PodPidsReader {
  /** Per pod cgroup directory: the last count of each cgroup below it, and those retired. */
  private readonly tallies = new Map<string, { counts: Map<string, number>; retired: number }>();

  constructor(readonly hierarchy: PidsHierarchy) {}

  /** The pod's PIDs now; undefined when its cgroup is not there (the pod has gone). */
  read(pod: Pick<PodWorkload, 'podCgroups'>): PodPids | undefined {
    const dir = this.podDir(pod);
    return dir === undefined ? undefined : this.readAt(dir);
  }

  /**
   * Reads each pod once (by uid) and forgets what it kept for any other pod, which is what
   * a scrape wants: `pods` are the pods with live processes now.
   */
  readAll(pods: Iterable<PodWorkload>): Map<string, PodPids> {
    const result = new Map<string, PodPids>();
    const seen = new Set<string>();
    const dirs = new Set<string>();
    for (const pod of pods) {
      if (seen.has(pod.podUid)) continue;
      seen.add(pod.podUid);
      const dir = this.podDir(pod);
      if (dir === undefined) continue;
      dirs.add(dir);
      const pids = this.readAt(dir);
      if (pids !== undefined) result.set(pod.podUid, pids);
    }
    for (const dir of this.tallies.keys()) if (!dirs.has(dir)) this.tallies.delete(dir);
    return result;
  }

  /** The first of the pod's cgroup paths that exists in this hierarchy. */
  private podDir(pod: Pick<PodWorkload, 'podCgroups'>): string | undefined {
    return pod.podCgroups.map((path) => join(this.hierarchy.dir, path)).find((dir) => existsSync(join(dir, 'pids.current')));
  }

  private readAt(dir: string): PodPids | undefined {
    const current = readCount(join(dir, 'pids.current'));
    if (current === undefined) return undefined; // removed while we read
    const max = readText(join(dir, 'pids.max'))?.trim();
    const limit = max === undefined || max === 'max' ? undefined : parseCount(max);
    const refused = refusalCounting(this.hierarchy, dir) === 'hierarchical' ? (readRefused(dir) ?? 0) : this.localRefusals(dir);
    return limit === undefined ? { current, refused } : { current, limit, refused };
  }

  /** The sum of the local counts of the pod's cgroup and every cgroup below it, never decreasing. */
  private localRefusals(podDir: string): number {
    const now = new Map<string, number>();
    for (const dir of subtree(podDir)) {
      const count = readRefused(dir);
      if (count !== undefined) now.set(dir, count);
    }
    const tally = this.tallies.get(podDir) ?? { counts: new Map<string, number>(), retired: 0 };
    for (const [dir, last] of tally.counts) {
      const count = now.get(dir);
      // Gone, or made again under the same name: its last count stays in the total.
      if (count === undefined || count < last) tally.retired += last;
    }
    tally.counts = now;
    this.tallies.set(podDir, tally);
    let sum = tally.retired;
    for (const count of now.values()) sum += count;
    return sum;
  }
}

/** `dir` and the cgroups below it, breadth first, bounded. */
function subtree(dir: string): string[] {
  const found = [dir];
  const depth = new Map([[dir, 0]]);
  for (let i = 0; i < found.length && found.length < MAX_CGROUPS; i++) {
    const parent = found[i]!;
    const level = depth.get(parent)!;
    if (level >= MAX_DEPTH) continue;
    let entries;
    try {
      entries = readdirSync(parent, { withFileTypes: true });
    } catch {
      continue; // removed meanwhile
    }
    for (const entry of entries) {
      if (!entry.isDirectory() || found.length >= MAX_CGROUPS) continue;
      const child = join(parent, entry.name);
      found.push(child);
      depth.set(child, level + 1);
    }
  }
  return found;
}

/** The "max N" line of a cgroup's pids.events; undefined if the file is not there. */
function readRefused(dir: string): number | undefined {
  const text = readText(join(dir, 'pids.events'));
  if (text === undefined) return undefined;
  const match = /^max (\d+)$/m.exec(text);
  return match === null ? 0 : parseCount(match[1]!);
}

function readCount(file: string): number | undefined {
  const text = readText(file);
  return text === undefined ? undefined : parseCount(text.trim());
}

function parseCount(text: string): number | undefined {
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
