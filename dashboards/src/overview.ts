// The forkwatch overview: who is forking, in which workload, is a fork bomb suspected, how
// processes live and end, and can the numbers be trusted. Each query reads the chosen
// instances; the panels about who is forking also follow the comm filter. The workload and
// fork-bomb rows do not, so a filter left set cannot hide a bomb.
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type * as table from '@grafana/grafana-foundation-sdk/table';
import {
  color,
  COMM,
  commVariable,
  datasourceVariable,
  fixedColor,
  INSTANCE,
  instanceVariable,
  Panels,
  RECORDED,
  thresholds,
  valueText,
} from './grafana.js';

/** Forkwatch's own processes: default process_* metrics carry names that other exporters share. */
const FORKWATCH_TARGETS = 'and on (job, instance) forkwatch_build_info';


/** 0 for each chosen instance: what the fork-bomb panels show where nothing is suspected. */
const ZERO_PER_INSTANCE = `sum by (instance) (0 * forkwatch_build_info{${INSTANCE}})`;

/**
 * A table of an instant query's rows: its labels in `columns` order, then the value under
 * the name `value`, largest first; Prometheus's time column hidden.
 */
function rowsByValue(panel: table.PanelBuilder, columns: string[], value: string, rename: Record<string, string> = {}) {
  return panel
    .withTransformation({
      id: 'organize',
      options: {
        excludeByName: { Time: true },
        indexByName: Object.fromEntries([...columns, 'Value'].map((column, index) => [column, index])),
        renameByName: { ...rename, Value: value },
      },
    })
    .sortBy([new common.TableSortByFieldStateBuilder().displayName(value).desc(true)]);
}

/**
 * How much a counter grew in the dashboard's time range, exactly, by `by`, where it grew. A
 * series born within the range (a name's first count) counts from 0: increase() would miss
 * its first sample.
 */
function grewInRange(metric: string, by: string): string {
  const selector = `${metric}{${INSTANCE}}`;
  return `sum by (${by}) (${selector} - (${selector} offset $__range or 0 * ${selector})) > 0`;
}

/** A stat of how much a counter grew in the dashboard's time range per instance, coloured from 1. */
function increaseInRange(panels: Panels, title: string, description: string, metric: string, from1: string) {
  return panels
    .stat({
      title,
      description,
      unit: 'none',
      width: 5,
      height: 4,
      queries: [
        {
          expr: `sum by (instance) (increase(${metric}{${INSTANCE}}[$__range]))`,
          legend: '{{instance}}',
          instant: true,
        },
      ],
    })
    .decimals(0)
    .thresholds(thresholds(color.ok, [1, from1]));
}

export function overviewDashboard(): dashboard.Dashboard {
  const panels = new Panels();

  return new dashboard.DashboardBuilder('forkwatch: process creation')
    .uid('forkwatch-overview')
    .description('Who is forking, whether a fork bomb is suspected, and whether forkwatch missed anything.')
    .tags(['forkwatch', 'linux', 'processes'])
    .time({ from: 'now-1h', to: 'now' })
    .refresh('30s')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .annotations([])
    .withVariable(datasourceVariable())
    .withVariable(instanceVariable())
    .withVariable(commVariable())

    .withRow(panels.row('Forks'))
    .withPanel(
      panels
        .timeseries({
          title: 'Fork rate by kind',
          description:
            `Forks per second on each instance over 2 minutes, from every fork event the kernel sent: processes (fork, vfork, clone of a new process) and threads. A thread pool churns threads without harm; a jump in process forks is what the panels below explain. ${RECORDED}`,
          unit: 'count:forks/s',
          width: 12,
          height: 8,
          queries: [
            {
              expr: `sum by (instance, kind) (instance_kind:forkwatch_forks:rate2m{${INSTANCE}})`,
              legend: '{{kind}} on {{instance}}',
            },
          ],
        })
        .overrideByRegexp('^process .*', [fixedColor('blue')])
        .overrideByRegexp('^thread .*', [fixedColor('purple')]),
    )
    .withPanel(
      panels.timeseries({
        title: 'Peak forks per second',
        description:
          'The most forks (processes and threads) in any one whole second of the trailing 60 s, on each instance: bursts that an averaged rate smooths away.',
        unit: 'count:forks/s',
        width: 12,
        height: 8,
        queries: [{ expr: `max by (instance) (forkwatch_forks_peak_per_second{${INSTANCE}})`, legend: '{{instance}}' }],
      }),
    )

    .withRow(panels.row('Who is forking'))
    .withPanel(
      rowsByValue(
        panels.table({
          title: 'Busiest parents now',
          description:
            'The processes that made the most process forks in the trailing --parents.window (60 s by default), busiest first: the --parents.top (10) of each instance. A process stays here for the window after it exits. Filtered by the Parent command variable.',
          unit: 'none',
          width: 10,
          height: 10,
          queries: [
            { expr: `max by (instance, pid, comm) (forkwatch_top_parent_forks{${INSTANCE}, ${COMM}})`, instant: true, table: true },
          ],
        }),
        ['instance', 'pid', 'comm'],
        'forks in window',
        { comm: 'command' },
      ),
    )
    .withPanel(
      panels.timeseries({
        title: 'Fork rate by parent command (top 10)',
        description:
          `Process forks per second over 2 minutes by the command name of the parent, the 10 busiest at each moment. Past --parents.max-comms (500) names, new names count as __other__; a parent that exited before its name was read counts as __unknown__. Filtered by the Parent command variable. ${RECORDED}`,
        unit: 'count:forks/s',
        width: 14,
        height: 10,
        queries: [
          {
            expr: `topk(10, sum by (instance, comm) (instance_comm:forkwatch_parent_forks:rate2m{${INSTANCE}, ${COMM}}))`,
            legend: '{{comm}} on {{instance}}',
          },
        ],
      }),
    )

    .withRow(panels.row('Which workload'))
    .withPanel(
      panels.timeseries({
        title: 'Busiest workloads (top 10)',
        description:
          `Process forks per second over 2 minutes by the workload of the parent: the pod and container (by name once forkwatch has them from the Kubernetes API, by uid: and id: until then), or the systemd unit outside pods. Past --workloads.max (1000) workloads on an instance, new ones count as __other__. ${RECORDED}`,
        unit: 'count:forks/s',
        width: 10,
        height: 9,
        queries: [
          {
            expr: `topk(10, sum by (instance, namespace, pod, container, unit) (instance_workload:forkwatch_workload_forks:rate2m{${INSTANCE}}))`,
            legend: '{{namespace}}/{{pod}} {{container}}{{unit}} on {{instance}}',
          },
        ],
      }),
    )
    .withPanel(
      panels
        .table({
          title: 'Pods nearest their PID limit',
          description:
            'The share of its PID limit each pod holds now (processes and threads in its pids cgroup over pids.max, which kubelet\'s podPidsLimit sets), highest first; pods without a limit are not listed. At the limit the kernel refuses the pod\'s forks; orange from 90%, where PodPidsNearLimit fires after 5 minutes.',
          unit: 'percentunit',
          width: 7,
          height: 9,
          queries: [
            {
              expr: `topk(10, max by (instance, namespace, pod) (forkwatch_pod_pids{${INSTANCE}} / forkwatch_pod_pids_limit{${INSTANCE}}))`,
              instant: true,
              table: true,
            },
          ],
        })
        .thresholds(thresholds(color.ok, [0.9, color.warn], [1, color.bad]))
        .withTransformation({
          id: 'organize',
          options: {
            excludeByName: { Time: true },
            indexByName: { instance: 0, namespace: 1, pod: 2, Value: 3 },
            renameByName: { Value: 'of PID limit' },
          },
        })
        .sortBy([new common.TableSortByFieldStateBuilder().displayName('of PID limit').desc(true)]),
    )
    .withPanel(
      panels
        .table({
          title: 'Refused forks by pod',
          description:
            'Forks the kernel refused in the dashboard\'s time range because the pod was at its PID limit (red from 1): each one is a process or thread that did not start. PodForksRefused fires for them.',
          unit: 'none',
          width: 7,
          height: 9,
          queries: [
            {
              expr: `sort_desc(sum by (instance, namespace, pod) (increase(forkwatch_pod_forks_refused_total{${INSTANCE}}[$__range])))`,
              instant: true,
              table: true,
            },
          ],
        })
        .decimals(0)
        .thresholds(thresholds(color.ok, [1, color.bad]))
        .withTransformation({
          id: 'organize',
          options: {
            excludeByName: { Time: true },
            indexByName: { instance: 0, namespace: 1, pod: 2, Value: 3 },
            renameByName: { Value: 'refused forks' },
          },
        })
        .sortBy([new common.TableSortByFieldStateBuilder().displayName('refused forks').desc(true)]),
    )

    .withRow(panels.row('Fork bombs'))
    .withPanel(
      panels
        .stat({
          title: 'Fork bombs suspected',
          description:
            'How many command names the fork-bomb detector suspects now, on each instance (red from 1). The ForkBombSuspected alert fires at the same time; its runbook says how to find and stop the processes. A suspicion clears --forkbomb.clear-after (60 s) after the last sign.',
          unit: 'none',
          width: 4,
          height: 8,
          queries: [
            {
              expr: `count by (instance) (forkwatch_forkbomb_suspected{${INSTANCE}})\nor\n${ZERO_PER_INSTANCE}`,
              legend: '{{instance}}',
            },
          ],
        })
        .thresholds(thresholds(color.ok, [1, color.bad]))
        .mappings(valueText({ 0: ['none', color.ok] })),
    )
    .withPanel(
      panels
        .stateTimeline({
          title: 'Suspected command names',
          description:
            'When the detector suspected which command names, in which workload (pod and container, or systemd unit), on each instance: red while suspected. The row "(none)" is green while nothing is suspected on that instance.',
          unit: 'none',
          width: 8,
          height: 8,
          queries: [
            {
              expr:
                `max by (instance, comm, namespace, pod, container, unit) (forkwatch_forkbomb_suspected{${INSTANCE}})\n` +
                `or on (instance)\n` +
                `label_replace(${ZERO_PER_INSTANCE}, "comm", "(none)", "", "")`,
              legend: '{{comm}} {{pod}}{{unit}} on {{instance}}',
            },
          ],
        })
        .thresholds(thresholds(color.ok, [1, color.bad]))
        .mappings(valueText({ 0: ['clear', color.ok], 1: ['suspected', color.bad] })),
    )
    .withPanel(
      panels
        .timeseries({
          title: 'Deepest fork chain',
          description:
            'The longest chain of forks without exec among live processes, on each instance (an exec ends a chain). Shells and builds stay a few deep; a fork bomb adds one with every generation. Processes from --forkbomb.chain-depth (3, the yellow line) deep are the ones the detector watches.',
          unit: 'none',
          width: 6,
          height: 8,
          queries: [{ expr: `max by (instance) (forkwatch_fork_chain_depth_max{${INSTANCE}})`, legend: '{{instance}}' }],
        })
        .decimals(0)
        .thresholds(thresholds(color.ok, [3, 'yellow'], [16, color.bad]))
        .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed)),
    )
    .withPanel(
      panels.timeseries({
        title: 'Chain forks by name (top 10)',
        description:
          `Process forks per second over 2 minutes by parents at least --forkbomb.chain-depth (3) forks without exec deep, by the parent's command name. Copies of a fork bomb fork here; builds and scripts that exec do not. Not filtered by the Parent command variable. ${RECORDED}`,
        unit: 'count:forks/s',
        width: 6,
        height: 8,
        queries: [
          {
            expr: `topk(10, sum by (instance, comm) (instance_comm:forkwatch_chain_forks:rate2m{${INSTANCE}}))`,
            legend: '{{comm}} on {{instance}}',
          },
        ],
      }),
    )

    .withRow(panels.row('Lifecycle'))
    .withPanel(
      panels.timeseries({
        title: 'Exec rate by program (top 10)',
        description:
          'Programs started per second (exec), by the command name after the exec, the 10 most started at each moment. A script that runs one short command in a loop shows here first. Names past --parents.max-comms (500) count as __other__; a program that ended before its name could be read, as __unknown__. Not filtered by the Parent command variable.',
        unit: 'count:execs/s',
        width: 12,
        height: 8,
        queries: [
          {
            expr: `topk(10, sum by (instance, comm) (rate(forkwatch_execs_total{${INSTANCE}}[$__rate_interval])))`,
            legend: '{{comm}} on {{instance}}',
          },
        ],
      }),
    )
    .withPanel(
      panels
        .timeseries({
          title: 'Process exits by reason',
          description:
            'Processes (not threads) that ended per second: success (exit status 0, green), failure (another status, orange) or signal (killed by a signal, red). A crash loop shows as a steady rate of failure or signal.',
          unit: 'count:exits/s',
          width: 12,
          height: 8,
          queries: [
            {
              expr: `sum by (instance, reason) (rate(forkwatch_exits_total{${INSTANCE}}[$__rate_interval]))`,
              legend: '{{reason}} on {{instance}}',
            },
          ],
        })
        .overrideByRegexp('^success .*', [fixedColor(color.ok)])
        .overrideByRegexp('^failure .*', [fixedColor(color.warn)])
        .overrideByRegexp('^signal .*', [fixedColor(color.bad)]),
    )
    .withPanel(
      panels.timeseries({
        title: 'Failing and killed programs (top 10)',
        description:
          'Processes that ended with a non-zero status or by a signal, per second, by command name and reason: the programs that crash or fail, busiest first. Not filtered by the Parent command variable.',
        unit: 'count:exits/s',
        width: 10,
        height: 8,
        queries: [
          {
            expr: `topk(10, sum by (instance, comm, reason) (rate(forkwatch_exits_total{${INSTANCE}, reason!="success"}[$__rate_interval])))`,
            legend: '{{comm}} ({{reason}}) on {{instance}}',
          },
        ],
      }),
    )
    .withPanel(
      rowsByValue(
        panels
          .table({
            title: 'Killing signals',
            description:
              'How many processes each signal killed in the dashboard\'s time range. SIGKILL is often the OOM killer or a kill -9; SIGSEGV, SIGBUS and SIGABRT are crashes; SIGTERM an orderly stop. Empty while no process died of a signal.',
            unit: 'none',
            width: 6,
            height: 8,
            queries: [
              {
                expr: grewInRange('forkwatch_exit_signals_total', 'instance, signal'),
                instant: true,
                table: true,
              },
            ],
          })
          .decimals(0),
        ['instance', 'signal'],
        'processes killed',
      ),
    )
    .withPanel(
      rowsByValue(
        panels
          .table({
            title: 'Core dumps, changes to root, ptrace attaches',
            description:
              'In the dashboard\'s time range, by command name: core dumps started (a crash by SIGSEGV, SIGABRT and the like, whether or not a core file was written; the CoreDumps alert), processes that became root from another user, and ptrace attaches by the tracer (debuggers, strace, and anything else reading another process). Empty while none happened.',
            unit: 'none',
            width: 8,
            height: 8,
            queries: [
              {
                expr:
                  `label_replace(${grewInRange('forkwatch_coredumps_total', 'instance, comm')}, "event", "core dump", "", "")\n` +
                  `or label_replace(${grewInRange('forkwatch_setuid_root_total', 'instance, comm')}, "event", "became root", "", "")\n` +
                  `or label_replace(${grewInRange('forkwatch_ptrace_attaches_total', 'instance, comm')}, "event", "ptrace attach", "", "")`,
                instant: true,
                table: true,
              },
            ],
          })
          .decimals(0),
        ['instance', 'event', 'comm'],
        'in range',
        { comm: 'command' },
      ),
    )
    .withPanel(
      panels.heatmap(
        {
          title: 'Process lifetimes',
          description:
            'How long processes lived, fork to exit, over all chosen instances: each column counts the processes that ended in that interval by lifetime, from 1 ms to an hour (darker: more). Processes that were running when forkwatch started are left out. A flood of short-lived processes (thousands under 10 ms) is a script or probe forking in a loop; compare with the exec and fork rates.',
          unit: 'short',
          width: 12,
          height: 9,
          queries: [
            {
              expr: `sum by (le) (increase(forkwatch_process_lifetime_seconds_bucket{${INSTANCE}}[$__rate_interval]))`,
              legend: '{{le}}',
              heatmap: true,
            },
          ],
        },
        's',
      ),
    )
    .withPanel(
      panels
        .stat({
          title: 'PIDs in use',
          description:
            'Live processes and threads as a share of the kernel\'s pid_max, on each instance: orange from 50%, red from 80%, where the NodePidsNearLimit alert fires. When none is left, new processes and threads fail to start.',
          unit: 'percentunit',
          width: 4,
          height: 9,
          queries: [
            {
              expr: `max by (instance) ((forkwatch_processes{${INSTANCE}} + forkwatch_threads{${INSTANCE}}) / forkwatch_pid_max{${INSTANCE}})`,
              legend: '{{instance}}',
              instant: true,
            },
          ],
        })
        .thresholds(thresholds(color.ok, [0.5, color.warn], [0.8, color.bad])),
    )
    .withPanel(
      panels
        .timeseries({
          title: 'Live processes and threads against pid_max',
          description:
            'Live processes and their other threads on each instance, from forkwatch\'s process table, and the kernel\'s pid_max (dashed red): processes and threads together cannot exceed it. A steady climb is a leak.',
          unit: 'short',
          width: 8,
          height: 9,
          queries: [
            { expr: `max by (instance) (forkwatch_processes{${INSTANCE}})`, legend: 'processes on {{instance}}' },
            { expr: `max by (instance) (forkwatch_threads{${INSTANCE}})`, legend: 'threads on {{instance}}' },
            { expr: `max by (instance) (forkwatch_pid_max{${INSTANCE}})`, legend: 'pid_max on {{instance}}' },
          ],
        })
        .overrideByQuery('A', [fixedColor('blue')])
        .overrideByQuery('B', [fixedColor('purple')])
        .overrideByQuery('C', [fixedColor(color.bad), { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } }]),
    )

    .withRow(panels.row('Can these numbers be trusted?'))
    .withPanel(
      panels
        .stat({
          title: 'Subscribed',
          description:
            'Whether the kernel has confirmed forkwatch\'s subscription to process events (red: not subscribed, and no fork is being counted). Read forkwatch\'s log; the ForkwatchNotSubscribed alert fires after 2 minutes.',
          unit: 'none',
          width: 4,
          height: 4,
          queries: [{ expr: `min by (instance) (forkwatch_subscribed{${INSTANCE}})`, legend: '{{instance}}', instant: true }],
        })
        .thresholds(thresholds(color.bad, [1, color.ok]))
        .mappings(valueText({ 0: ['no', color.bad], 1: ['yes', color.ok] })),
    )
    .withPanel(
      increaseInRange(
        panels,
        'Events lost',
        'Events the kernel sent that never arrived, in the dashboard\'s time range, from gaps in its per-CPU sequence numbers (red from 1: the counts above are short by about that many events). Give forkwatch CAP_NET_ADMIN, a larger --netlink.receive-buffer-bytes, or more CPU.',
        'forkwatch_events_lost_total',
        color.bad,
      ),
    )
    .withPanel(
      increaseInRange(
        panels,
        'Kernel drops',
        'Messages the kernel dropped on forkwatch\'s socket because its receive buffer was full (SO_MEMINFO), in the dashboard\'s time range (red from 1). They show as lost events too.',
        'forkwatch_netlink_drops_total',
        color.bad,
      ),
    )
    .withPanel(
      increaseInRange(
        panels,
        'Invalid messages',
        'Datagrams forkwatch rejected as malformed or not from the kernel, in the dashboard\'s time range (orange from 1). The kernel does not send these: something else is writing to the socket, or the kernel\'s format is one this version does not know.',
        'forkwatch_messages_invalid_total',
        color.warn,
      ),
    )
    .withPanel(
      panels
        .stat({
          title: 'Receive buffer',
          description:
            'The socket receive buffer the kernel granted (Linux reports twice the request). The default asks for 32 MiB; under 8 MiB (orange) the buffer was usually capped by net.core.rmem_max because forkwatch lacks CAP_NET_ADMIN, and a fork storm can overflow it.',
          unit: 'bytes',
          width: 5,
          height: 4,
          queries: [
            { expr: `max by (instance) (forkwatch_netlink_receive_buffer_bytes{${INSTANCE}})`, legend: '{{instance}}', instant: true },
          ],
        })
        .thresholds(thresholds(color.warn, [8 * 1024 * 1024, color.ok])),
    )
    .withPanel(
      panels
        .timeseries({
          title: 'Lost, dropped and invalid per second',
          description:
            `When events went missing: lost events (gaps in the kernel's sequence numbers), the kernel's drops on the socket and rejected datagrams, per second over 2 minutes. All stay at 0 on a healthy node. ${RECORDED}`,
          unit: 'count:events/s',
          width: 8,
          height: 8,
          queries: [
            {
              expr: `sum by (instance) (instance:forkwatch_events_lost:rate2m{${INSTANCE}})`,
              legend: 'lost on {{instance}}',
            },
            {
              expr: `sum by (instance) (instance:forkwatch_netlink_drops:rate2m{${INSTANCE}})`,
              legend: 'kernel drops on {{instance}}',
            },
            {
              expr: `sum by (instance) (instance:forkwatch_messages_invalid:rate2m{${INSTANCE}})`,
              legend: 'invalid on {{instance}}',
            },
          ],
        })
        .overrideByQuery('A', [fixedColor(color.bad)])
        .overrideByQuery('B', [fixedColor(color.warn)])
        .overrideByQuery('C', [fixedColor('yellow')]),
    )
    .withPanel(
      panels
        .timeseries({
          title: 'forkwatch CPU',
          description:
            'CPU used by the forkwatch process, JavaScript and the native reader thread together (100% is one core). Near one core (the orange line), a storm can outrun it and events may be lost.',
          unit: 'percentunit',
          width: 8,
          height: 8,
          queries: [
            {
              expr: `sum by (instance) (rate(process_cpu_seconds_total{${INSTANCE}}[$__rate_interval]) ${FORKWATCH_TARGETS})`,
              legend: '{{instance}}',
            },
          ],
        })
        .thresholds(thresholds(color.ok, [0.8, color.warn]))
        .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed)),
    )
    .withPanel(
      panels.timeseries({
        title: 'forkwatch memory',
        description:
          'Resident memory of the forkwatch process, and the part of it that is JavaScript heap in use. It grows with live processes and distinct parent names, and should level off.',
        unit: 'bytes',
        width: 8,
        height: 8,
        queries: [
          {
            expr: `sum by (instance) (process_resident_memory_bytes{${INSTANCE}} ${FORKWATCH_TARGETS})`,
            legend: 'resident on {{instance}}',
          },
          {
            expr: `sum by (instance) (nodejs_heap_size_used_bytes{${INSTANCE}} ${FORKWATCH_TARGETS})`,
            legend: 'JS heap used on {{instance}}',
          },
        ],
      }),
    )
    .build();
}
