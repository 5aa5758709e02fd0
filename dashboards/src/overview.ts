// The forkwatch overview: who is forking, is a fork bomb suspected, and can the numbers be
// trusted. Each query reads the chosen instances; the panels about who is forking also
// follow the comm filter. The fork-bomb row does not, so a filter left set cannot hide a bomb.
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import {
  color,
  COMM,
  commVariable,
  datasourceVariable,
  fixedColor,
  INSTANCE,
  instanceVariable,
  Panels,
  thresholds,
  valueText,
} from './grafana.js';

/** Forkwatch's own processes: default process_* metrics carry names that other exporters share. */
const FORKWATCH_TARGETS = 'and on (job, instance) forkwatch_build_info';

/**
 * Said by each panel that reads forkwatch's recording rules (deploy/mixin/rules.libsonnet):
 * recorded once per evaluation, they spare a large cluster's Prometheus a rate over every
 * instance's counters at each refresh, but must be loaded.
 */
const RECORDED = 'Needs forkwatch\'s recording rules (deploy/prometheus/forkwatch-rules.yml, or the mixin\'s prometheusRules) loaded in Prometheus.';

/** 0 for each chosen instance: what the fork-bomb panels show where nothing is suspected. */
const ZERO_PER_INSTANCE = `sum by (instance) (0 * forkwatch_build_info{${INSTANCE}})`;

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
      panels
        .table({
          title: 'Busiest parents now',
          description:
            'The processes that made the most process forks in the trailing --parents.window (60 s by default), busiest first: the --parents.top (10) of each instance. A process stays here for the window after it exits. Filtered by the Parent command variable.',
          unit: 'none',
          width: 10,
          height: 10,
          queries: [
            { expr: `max by (instance, pid, comm) (forkwatch_top_parent_forks{${INSTANCE}, ${COMM}})`, instant: true, table: true },
          ],
        })
        .withTransformation({
          id: 'organize',
          options: {
            excludeByName: { Time: true },
            indexByName: { instance: 0, pid: 1, comm: 2, Value: 3 },
            renameByName: { comm: 'command', Value: 'forks in window' },
          },
        })
        .sortBy([new common.TableSortByFieldStateBuilder().displayName('forks in window').desc(true)]),
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
            'When the detector suspected which command names, on each instance: red while suspected. The row "(none)" is green while nothing is suspected on that instance.',
          unit: 'none',
          width: 8,
          height: 8,
          queries: [
            {
              expr:
                `max by (instance, comm) (forkwatch_forkbomb_suspected{${INSTANCE}})\n` +
                `or on (instance)\n` +
                `label_replace(${ZERO_PER_INSTANCE}, "comm", "(none)", "", "")`,
              legend: '{{comm}} on {{instance}}',
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
