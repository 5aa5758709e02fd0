// Where the forks are: process forks, execs, exits and live processes by workload (pod and
// container, or systemd unit), each pod's PIDs against its limit, and whether the Kubernetes
// names are current.
import { Counter, Gauge, type Registry } from 'prom-client';
import { secondOf } from '../kernel/clock.js';
import type { Listener } from '../pipeline/listener.js';
import { EXIT_REASONS, exitReason, isProcessExit } from '../lifecycle/exit-status.js';
import { WORKLOAD_LABEL_NAMES, type WorkloadLabels } from '../workloads/labels.js';
import { findPidsHierarchy, PodPidsReader, type PodPids } from '../workloads/pod-pids.js';
import type { Slot, Workloads, WorkloadsNow } from '../workloads/service.js';
import type { MetricGroup } from './group.js';

/** How often idle workloads are let go when no one scrapes: often enough for the retention. */
function sweepSeconds(retentionSeconds: number): number {
  return Math.max(1, Math.min(15, Math.floor(retentionSeconds / 2)));
}

/**
 * Sums values by label set: two workloads can share their labels (a pod re-created under its
 * name). Series come out sorted by their labels, so the page does not depend on the order
 * processes were found in.
 */
class ByLabels<L extends object> {
  private readonly sums = new Map<string, { labels: L; value: number }>();

  add(labels: L, value: number): void {
    const key = Object.values(labels).join('\0');
    const known = this.sums.get(key);
    if (known === undefined) this.sums.set(key, { labels, value });
    else known.value += value;
  }

  entries(): Iterable<{ labels: L; value: number }> {
    return [...this.sums].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, entry]) => entry);
  }
}

/**
 * `read`, once per scrape: the metrics of one page are collected in one turn of the event
 * loop, and each would otherwise walk the table and read the cgroup files again.
 */
function oncePerScrape<T>(read: () => T): () => T {
  let value: { current: T } | undefined;
  return () => {
    if (value === undefined) {
      value = { current: read() };
      setImmediate(() => (value = undefined));
    }
    return value.current;
  };
}

export const workloadMetrics: MetricGroup = ({ workloads, cgroupRoot, logger }) => {
  const hierarchy = findPidsHierarchy(cgroupRoot);
  if (hierarchy === undefined) {
    logger.warn('no pids cgroup controller under the cgroup file system path: pods\' PIDs, limits and refused forks are not exported; mount the host\'s /sys/fs/cgroup and point --path.cgroupfs at it', {
      path: cgroupRoot,
    });
  }
  const reader = hierarchy === undefined ? undefined : new PodPidsReader(hierarchy);
  const scrape = oncePerScrape(() => {
    const now = workloads.refresh();
    const pids = reader?.readAll(now.pods) ?? new Map<string, PodPids>();
    return { now, pids };
  });

  let timer: NodeJS.Timeout | undefined;
  const listener: Listener = {
    fork(event, parent) {
      // Threads are counted by kind only: their event names the creator's parent.
      if (event.childPid !== event.childTgid) return;
      workloads.fork(parent?.cgroup, secondOf(event.timestampNs));
    },
    exec(event, process) {
      workloads.exec(process?.cgroup, secondOf(event.timestampNs));
    },
    exit(event, process) {
      if (isProcessExit(event)) workloads.exit(process?.cgroup, exitReason(event.exitCode), secondOf(event.timestampNs));
    },
    start() {
      timer = setInterval(() => workloads.refresh(), sweepSeconds(workloads.retentionSeconds) * 1000);
      timer.unref();
    },
    close() {
      clearInterval(timer);
    },
  };

  return {
    listener,
    register(registry: Registry) {
      const registers = [registry];

      new Counter({
        name: 'forkwatch_workload_forks_total',
        help: `Process forks by the workload of the parent process (pod and container, or systemd unit); past ${workloads.max} workloads, new ones count under unit __other__.`,
        labelNames: WORKLOAD_LABEL_NAMES,
        registers,
        collect() {
          // Workloads that gave their slot up must go from the page, not linger at an old value.
          this.reset();
          for (const { labels, value } of bySlotLabels(workloads, workloads.heldSlots().map((slot) => [slot, slot.forks]))) this.inc(labels, value);
        },
      });

      new Counter({
        name: 'forkwatch_workload_execs_total',
        help: `Execs by the workload of the process (its cgroup as the exec arrived, else as last known); past ${workloads.max} workloads, new ones count under unit __other__.`,
        labelNames: WORKLOAD_LABEL_NAMES,
        registers,
        collect() {
          this.reset();
          for (const { labels, value } of bySlotLabels(workloads, workloads.heldSlots().map((slot) => [slot, slot.execs]))) this.inc(labels, value);
        },
      });

      new Counter({
        name: 'forkwatch_workload_exits_total',
        help: `Process exits (not threads) by workload and reason: success (status 0), failure (non-zero status), signal (killed); past ${workloads.max} workloads, new ones count under unit __other__.`,
        labelNames: [...WORKLOAD_LABEL_NAMES, 'reason'] as const,
        registers,
        collect() {
          this.reset();
          const slots = workloads.heldSlots();
          for (const reason of EXIT_REASONS) {
            for (const { labels, value } of bySlotLabels(workloads, slots.map((slot) => [slot, slot.exits[reason]]))) this.inc({ ...labels, reason }, value);
          }
        },
      });

      new Gauge({
        name: 'forkwatch_workload_processes',
        help: `Live processes by workload (pod and container, or systemd unit); past ${workloads.max} workloads, new ones count under unit __other__.`,
        labelNames: WORKLOAD_LABEL_NAMES,
        registers,
        collect() {
          this.reset();
          const counts = processCounts(workloads, scrape().now);
          for (const { labels, value } of bySlotLabels(workloads, counts)) this.set(labels, value);
        },
      });

      const podSeries = (pick: (pids: PodPids) => number | undefined): ByLabels<{ namespace: string; pod: string }> => {
        const series = new ByLabels<{ namespace: string; pod: string }>();
        for (const [podUid, pids] of scrape().pids) {
          const value = pick(pids);
          if (value !== undefined) series.add(workloads.podLabels(podUid), value);
        }
        return series;
      };

      new Gauge({
        name: 'forkwatch_pod_pids',
        help: 'Tasks (processes and threads) in the pod\'s pids cgroup now (pids.current), for pods with live processes or recent forks.',
        labelNames: ['namespace', 'pod'] as const,
        registers,
        collect() {
          this.reset();
          for (const { labels, value } of podSeries((pids) => pids.current).entries()) this.set(labels, value);
        },
      });

      new Gauge({
        name: 'forkwatch_pod_pids_limit',
        help: 'The pod\'s PID limit (pids.max of its cgroup, which kubelet\'s podPidsLimit sets); no series where it is unlimited.',
        labelNames: ['namespace', 'pod'] as const,
        registers,
        collect() {
          this.reset();
          for (const { labels, value } of podSeries((pids) => pids.limit).entries()) this.set(labels, value);
        },
      });

      new Counter({
        name: 'forkwatch_pod_forks_refused_total',
        help: 'Forks the kernel refused because the pod was at its PID limit (the max count of pids.events in its cgroups).',
        labelNames: ['namespace', 'pod'] as const,
        registers,
        collect() {
          this.reset();
          for (const { labels, value } of podSeries((pids) => pids.refused).entries()) this.inc(labels, value);
        },
      });

      new Gauge({
        name: 'forkwatch_kubernetes_synced',
        help: 'Whether the watch of this node\'s pods is in sync with the Kubernetes API server (1); 0 while it is not, or when forkwatch does not ask the API.',
        registers,
        collect() {
          this.set(workloads.kubernetesSynced ? 1 : 0);
        },
      });
    },
  };
};

/** Live processes by slot, with `__other__` always there (from 0). */
function processCounts(workloads: Workloads, now: WorkloadsNow): [Slot, number][] {
  const counts: [Slot, number][] = [...now.processes];
  if (!now.processes.has(workloads.other)) counts.push([workloads.other, 0]);
  return counts;
}

function bySlotLabels(workloads: Workloads, values: Iterable<[Slot, number]>): Iterable<{ labels: WorkloadLabels; value: number }> {
  const series = new ByLabels<WorkloadLabels>();
  for (const [slot, value] of values) series.add(workloads.labels(slot.workload), value);
  return series.entries();
}
