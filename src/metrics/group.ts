// The shape every metrics module has. A group is a function of what the pipeline offers:
// it makes the listener that gathers what it shows, if it needs one, and registers its
// metrics in a registry (once per registry: see registries.ts). src/metrics/groups.ts
// lists the groups, and their listeners get events in that order.
import type { Registry } from 'prom-client';
import type { Logger } from '../log.js';
import type { Listener } from '../pipeline/listener.js';
import type { Procfs } from '../processes/procfs.js';
import type { ProcessTable } from '../processes/table.js';
import type { ForkBombOptions } from '../detect/forkbomb.js';
import type { Workloads } from '../workloads/service.js';

export interface ParentsSettings {
  /** Most distinct parent command names kept as label values. */
  maxComms: number;
  /** How many busiest parents forkwatch_top_parent_forks shows. */
  top: number;
  /** The trailing window behind it. */
  windowSeconds: number;
}

export interface WorkloadSettings {
  /** Most workloads kept as label sets (--workloads.max). */
  max: number;
  /** A workload with no live process and no fork for this long loses its series. */
  retentionSeconds: number;
  /** Where the host's cgroup file system is (--path.cgroupfs), for pods' PIDs. */
  cgroupRoot: string;
}

/** The socket's own state, as the kernel reports it. */
export interface SocketState {
  subscribed: boolean;
  receiveBufferBytes: number;
  kernelDrops: number;
}

/** What a group may use. */
export interface GroupContext {
  table: ProcessTable;
  /** /proc, for what a group reads at scrape time. */
  procfs: Procfs;
  parents: ParentsSettings;
  forkbomb: Omit<ForkBombOptions, 'maxComms' | 'now'>;
  /** The workloads, shared by every group that labels by workload. */
  workloads: Workloads;
  /** Where the host's cgroup file system is (--path.cgroupfs). */
  cgroupRoot: string;
  version: string;
  logger: Logger;
  /** The monotonic clock in whole seconds (the kernel's event clock). */
  now: () => number;
  /** The subscription's state now. */
  socket: () => SocketState;
}

export interface MetricGroupInstance {
  /** Gets the events; listeners are called in the order of the groups' list. */
  listener?: Listener;
  /** Registers the group's metrics in `registry`; called once for each registry. */
  register(registry: Registry): void;
}

export type MetricGroup = (context: GroupContext) => MetricGroupInstance;
