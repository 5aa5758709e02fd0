// The forkwatch cluster view: every node at once. Where the overview follows a few
// instances closely, this answers across the fleet: which nodes fork most, which namespaces
// and pods fork most cluster-wide, which nodes are losing events, and where a fork bomb is
// now. Each query reads the chosen instances (all of them by default).
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { color, datasourceVariable, INSTANCE, instanceVariable, Panels, RECORDED, thresholds, valueText } from './grafana.js';

/** Busiest workloads as recorded by forkwatch's rules, on the chosen instances. */
const WORKLOAD_RATE = `instance_workload:forkwatch_workload_forks:rate2m{${INSTANCE}`;

export function clusterDashboard(): dashboard.Dashboard {
  const panels = new Panels();

  return new dashboard.DashboardBuilder('forkwatch: cluster')
    .uid('forkwatch-cluster')
    .description('Every node at once: fork rate per node, the busiest namespaces and pods cluster-wide, failing containers, nodes losing events, and fork bombs now.')
    .tags(['forkwatch', 'linux', 'processes', 'kubernetes'])
    .time({ from: 'now-1h', to: 'now' })
    .refresh('30s')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .annotations([])
    .withVariable(datasourceVariable())
    .withVariable(instanceVariable())

    .withRow(panels.row('Fork bombs now'))
    .withPanel(
      panels
        .stat({
          title: 'Fork bombs suspected',
          description:
            'How many command names the fork-bomb detector suspects now, across the chosen nodes (red from 1). ForkBombSuspected fires for each, with the pod\'s namespace and pod; the table beside says where.',
          unit: 'none',
          width: 5,
          height: 7,
          queries: [
            {
              expr: `count(forkwatch_forkbomb_suspected{${INSTANCE}})\nor on ()\nsum(0 * forkwatch_build_info{${INSTANCE}})`,
              legend: 'suspected',
              instant: true,
            },
          ],
        })
        .thresholds(thresholds(color.ok, [1, color.bad]))
        .mappings(valueText({ 0: ['none', color.ok] })),
    )
    .withPanel(
      panels
        .table({
          title: 'Where the bombs are',
          description:
            'Each suspected fork bomb now: the node, the command name, and its workload (namespace, pod and container, or the systemd unit outside pods). One row "(none)" while nothing is suspected anywhere.',
          unit: 'none',
          width: 19,
          height: 7,
          queries: [
            {
              expr:
                `max by (instance, namespace, pod, container, unit, comm) (forkwatch_forkbomb_suspected{${INSTANCE}})\n` +
                `or on ()\n` +
                `label_replace(sum(0 * forkwatch_build_info{${INSTANCE}}), "comm", "(none)", "", "")`,
              instant: true,
              table: true,
            },
          ],
        })
        .withTransformation({
          id: 'organize',
          options: {
            excludeByName: { Time: true, Value: true },
            indexByName: { instance: 0, namespace: 1, pod: 2, container: 3, unit: 4, comm: 5 },
            renameByName: { instance: 'node', comm: 'command' },
          },
        }),
    )

    .withRow(panels.row('Forks across the cluster'))
    .withPanel(
      panels.timeseries({
        title: 'Fork rate per node',
        description: `Process forks per second over 2 minutes on each node (threads left out). A node far above the others is where to look first. ${RECORDED}`,
        unit: 'count:forks/s',
        width: 24,
        height: 8,
        queries: [{ expr: `sum by (instance) (instance_kind:forkwatch_forks:rate2m{${INSTANCE}, kind="process"})`, legend: '{{instance}}' }],
      }),
    )
    .withPanel(
      panels.timeseries({
        title: 'Busiest namespaces (top 10)',
        description: `Process forks per second over 2 minutes by Kubernetes namespace, summed over every node: the parents' pods, once forkwatch has their names from the API (pods named by uid: and processes outside pods are left out). ${RECORDED}`,
        unit: 'count:forks/s',
        width: 12,
        height: 9,
        queries: [{ expr: `topk(10, sum by (namespace) (${WORKLOAD_RATE}, namespace!=""}))`, legend: '{{namespace}}' }],
      }),
    )
    .withPanel(
      panels.timeseries({
        title: 'Busiest pods (top 10)',
        description: `Process forks per second over 2 minutes by pod, summed over its containers, across every node; a pod whose names forkwatch does not have yet shows as uid:<pod uid>. ${RECORDED}`,
        unit: 'count:forks/s',
        width: 12,
        height: 9,
        queries: [{ expr: `topk(10, sum by (namespace, pod) (${WORKLOAD_RATE}, pod!=""}))`, legend: '{{namespace}}/{{pod}}' }],
      }),
    )
    .withPanel(
      panels.timeseries({
        title: 'Failing containers (top 10)',
        description:
          'Process exits per second that were not a success, by container and reason, across every node: failure is a non-zero exit status, signal a process killed by a signal. A crash-looping container shows here however briefly its processes live, since forkwatch counts every exit as it happens.',
        unit: 'count:exits/s',
        width: 24,
        height: 8,
        queries: [
          {
            expr: `topk(10, sum by (namespace, pod, container, reason) (rate(forkwatch_workload_exits_total{${INSTANCE}, pod!="", reason!="success"}[$__rate_interval])))`,
            legend: '{{namespace}}/{{pod}}/{{container}} {{reason}}',
          },
        ],
      }),
    )

    .withRow(panels.row('Nodes that are not seeing everything'))
    .withPanel(
      panels
        .table({
          title: 'Nodes losing events',
          description:
            'Process events each node\'s forkwatch lost in the dashboard\'s time range (gaps in the kernel\'s sequence numbers), most first (red from 1): its counts are short and its fork-bomb detector may miss forks. See the ForkwatchEventsLost runbook.',
          unit: 'none',
          width: 12,
          height: 8,
          queries: [
            {
              expr: `topk(20, sum by (instance) (increase(forkwatch_events_lost_total{${INSTANCE}}[$__range])))`,
              instant: true,
              table: true,
            },
          ],
        })
        .decimals(0)
        .thresholds(thresholds(color.ok, [1, color.bad]))
        .withTransformation({
          id: 'organize',
          options: { excludeByName: { Time: true }, indexByName: { instance: 0, Value: 1 }, renameByName: { instance: 'node', Value: 'events lost' } },
        })
        .sortBy([new common.TableSortByFieldStateBuilder().displayName('events lost').desc(true)]),
    )
    .withPanel(
      panels.timeseries({
        title: 'Events lost per second, by node',
        description: `When each node lost events, per second over 2 minutes; 0 on a healthy node. ${RECORDED}`,
        unit: 'count:events/s',
        width: 12,
        height: 8,
        queries: [{ expr: `sum by (instance) (instance:forkwatch_events_lost:rate2m{${INSTANCE}})`, legend: '{{instance}}' }],
      }),
    )
    .build();
}
