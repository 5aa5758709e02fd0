// The workloads forkwatch names, shared by every listener and metric that labels by workload:
// a process's cgroup path -> its workload (pod and container, or unit) -> the four labels,
// resolved when the page is written, so that a pod's series switch from `uid:` to its names
// as soon as the pod cache knows them.
//
// Label sets are bounded. A workload takes a slot when it first forks, execs or exits, or is
// first seen with a live process; at most `max` hold one, and past them new workloads count
// under unit="__other__". A workload with no live process and none of these events for the
// retention gives its slot up, and its series go from the page. Slots are not dealt again by how busy workloads
// are (as command names are, see processes/comm-counts.ts): making a cgroup takes root, and
// the cgroups that come and go (pods, sessions, transient units) free their slots on their
// own once gone.
import type { Process } from '../processes/table.js';
import type { ExitReason } from '../lifecycle/exit-status.js';
import { podLabels, workloadLabels, type PodNames, type WorkloadLabels } from './labels.js';
import { workloadOf, type PodWorkload, type UnitWorkload, type Workload } from './layouts.js';

/** Where new workloads count once every slot is taken. */
export const OTHER_WORKLOAD: UnitWorkload = Object.freeze({ kind: 'unit', unit: '__other__' });
/** The workload of a process whose cgroup could not be read (it was gone before we asked). */
export const UNKNOWN_WORKLOAD: UnitWorkload = Object.freeze({ kind: 'unit', unit: '__unknown__' });

/** Distinct cgroup paths remembered for the fork path's single lookup; past it, they are forgotten. */
const MAX_PATHS = 4096;

/** The workload of a cgroup path as the process table has it (undefined: not known). */
export function identifyCgroup(cgroup: string | undefined): Workload {
  return cgroup === undefined ? UNKNOWN_WORKLOAD : workloadOf(cgroup);
}

/** A string that is the same for two workloads exactly when they are the same workload. */
export function workloadKey(workload: Workload): string {
  // Pod uids and container ids are hex and dashes: the space cannot be part of them.
  return workload.kind === 'pod' ? `pod ${workload.podUid} ${workload.containerId ?? ''}` : `unit ${workload.unit}`;
}

/** The pod cache as the workloads use it: names, and whether its watch is in sync. */
export interface PodSource extends PodNames {
  readonly synced: boolean;
}

export interface WorkloadsOptions {
  /** Most workloads holding a label set (--workloads.max). */
  max: number;
  /** A workload with no live process and no fork for this long gives its slot up (--workloads.retention). */
  retentionSeconds: number;
  /** The live processes, each with its cgroup path. */
  table: { processes(): Iterable<Pick<Process, 'cgroup'>> };
  /** Kubernetes names; undefined when forkwatch does not ask the API (pods stay named by uid). */
  pods?: PodSource;
  /** The monotonic clock in whole seconds (the kernel's event clock). */
  now: () => number;
}

/** A workload holding a label set. */
export interface Slot {
  readonly workload: Workload;
  /** Process forks by its processes while it held the slot. */
  forks: number;
  /** Execs by its processes while it held the slot. */
  execs: number;
  /** Process exits by reason while it held the slot. */
  readonly exits: Record<ExitReason, number>;
  /** The second of its last event, or of the last look at the table that found it alive. */
  lastActive: number;
}

function emptySlot(workload: Workload, lastActive: number): Slot {
  return { workload, forks: 0, execs: 0, exits: { success: 0, failure: 0, signal: 0 }, lastActive };
}

/** What one look at the table found. */
export interface WorkloadsNow {
  /** Live processes by slot (the `__other__` slot included when it has any). */
  processes: Map<Slot, number>;
  /** The pods with live processes or a slot, at most `max` of them. */
  pods: PodWorkload[];
}

export class Workloads {
  readonly max: number;
  readonly retentionSeconds: number;
  private readonly slots = new Map<string, Slot>();
  /** Counts every workload without a slot; it never leaves. */
  readonly other: Slot = emptySlot(OTHER_WORKLOAD, Infinity);
  /** cgroup path -> the slot its events count in: one lookup per event. Cleared when a slot goes. */
  private readonly byPath = new Map<string | undefined, Slot>();

  constructor(private readonly options: WorkloadsOptions) {
    this.max = options.max;
    this.retentionSeconds = options.retentionSeconds;
  }

  /** Whether the pod cache's watch is in sync (false without one). */
  get kubernetesSynced(): boolean {
    return this.options.pods?.synced ?? false;
  }

  /** Counts a process fork at `second` by a parent whose cgroup is `cgroup`. */
  fork(cgroup: string | undefined, second: number): void {
    this.activeSlot(cgroup, second).forks++;
  }

  /** Counts an exec at `second` by a process whose cgroup (after the exec) is `cgroup`. */
  exec(cgroup: string | undefined, second: number): void {
    this.activeSlot(cgroup, second).execs++;
  }

  /** Counts a process's exit at `second`, for `reason`, in the cgroup it ended in. */
  exit(cgroup: string | undefined, reason: ExitReason, second: number): void {
    this.activeSlot(cgroup, second).exits[reason]++;
  }

  /** The slot whose counts an event at `second` in `cgroup` goes to, marked active then. */
  private activeSlot(cgroup: string | undefined, second: number): Slot {
    let slot = this.byPath.get(cgroup);
    if (slot === undefined) {
      slot = this.slotFor(identifyCgroup(cgroup), second);
      if (this.byPath.size >= MAX_PATHS) this.byPath.clear();
      this.byPath.set(cgroup, slot);
    }
    if (second > slot.lastActive) slot.lastActive = second;
    return slot;
  }

  /** The four labels of a workload now: Kubernetes names where the pod cache has them. */
  labels(workload: Workload): WorkloadLabels {
    return workloadLabels(workload, this.options.pods);
  }

  /** namespace and pod of a pod now: by name where the pod cache has it, else `uid:`. */
  podLabels(podUid: string): { namespace: string; pod: string } {
    return podLabels(podUid, this.options.pods);
  }

  /** Every slot held now, then the `__other__` slot. */
  heldSlots(): Slot[] {
    return [...this.slots.values(), this.other];
  }

  /**
   * Looks at the table: counts live processes by workload, lets idle workloads go, and
   * gives workloads with live processes a slot if one is free. Called at each scrape and on
   * a timer, so that slots free up even when no one scrapes.
   */
  refresh(now = this.options.now()): WorkloadsNow {
    const byCgroup = new Map<string | undefined, number>();
    for (const { cgroup } of this.options.table.processes()) byCgroup.set(cgroup, (byCgroup.get(cgroup) ?? 0) + 1);
    const live = new Map<string, { workload: Workload; count: number }>();
    for (const [cgroup, count] of byCgroup) {
      const workload = identifyCgroup(cgroup);
      const key = workloadKey(workload);
      const known = live.get(key);
      if (known === undefined) live.set(key, { workload, count });
      else known.count += count;
    }

    // Idle ones go first, so that a live workload can take the slot one frees.
    let freed = false;
    for (const [key, slot] of this.slots) {
      if (!live.has(key) && now - slot.lastActive >= this.retentionSeconds) {
        this.slots.delete(key);
        freed = true;
      }
    }
    // Paths cached with a slot that went, or with `__other__` while a slot is free now.
    if (freed) this.byPath.clear();

    const processes = new Map<Slot, number>();
    const pods = new Map<string, PodWorkload>();
    for (const { workload, count } of live.values()) {
      const slot = this.slotFor(workload, now);
      if (slot !== this.other) slot.lastActive = now;
      processes.set(slot, (processes.get(slot) ?? 0) + count);
      if (workload.kind === 'pod' && pods.size < this.max) pods.set(workload.podUid, workload);
    }
    for (const { workload } of this.slots.values()) {
      if (workload.kind === 'pod' && !pods.has(workload.podUid) && pods.size < this.max) pods.set(workload.podUid, workload);
    }
    return { processes, pods: [...pods.values()] };
  }

  /** The slot of `workload`: its own, a free one, or `__other__`. */
  private slotFor(workload: Workload, second: number): Slot {
    const key = workloadKey(workload);
    const held = this.slots.get(key);
    if (held !== undefined) return held;
    if (this.slots.size >= this.max) return this.other;
    const slot = emptySlot(workload, second);
    this.slots.set(key, slot);
    return slot;
  }
}
