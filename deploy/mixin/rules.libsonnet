// Recording rules for what the dashboards compute on every refresh, named
// level:metric:operations (https://prometheus.io/docs/practices/rules/). On a large cluster
// a rate over every instance's per-command counters (up to --parents.max-comms series an
// instance) is the dashboard's heaviest work; recorded once per evaluation, a panel reads
// one sample per step instead of a window of raw samples, and no longer pays for each
// viewer and each refresh.
//
// All keep job and instance and drop the rest (pod, namespace, endpoint...): the series
// then survive a restart of the forkwatch pod, which changes its pod label. The window is
// 2m, as for the alerts' fork rate: two or more samples at a scrape interval of up to 1m.
// The dashboards name these series, so the window is not configurable.
//
// The rules ForkRateHigh needs live in its own group (alerts.libsonnet).
local rate2m(level, counter, by) =
  assert std.endsWith(counter, '_total') : '%s: a counter ends in _total' % counter;
  {
    record: '%s:%s:rate2m' % [level, std.substr(counter, 0, std.length(counter) - std.length('_total'))],
    expr: 'sum by (%s) (rate(%s[2m]))' % [std.join(', ', by), counter],
  };

{
  prometheusRules+:: {
    groups+: [
      {
        name: 'forkwatch-dashboards',
        rules: [
          // Forks per second by kind (process, thread): "Fork rate by kind".
          rate2m('instance_kind', 'forkwatch_forks_total', ['job', 'instance', 'kind']),
          // Process forks per second by parent command: "Fork rate by parent command".
          rate2m('instance_comm', 'forkwatch_parent_forks_total', ['job', 'instance', 'comm']),
          // Forks deep in fork-without-exec chains, by parent command: "Chain forks by name".
          rate2m('instance_comm', 'forkwatch_chain_forks_total', ['job', 'instance', 'comm']),
          // What went missing, per second: "Lost, dropped and invalid per second".
          rate2m('instance', 'forkwatch_events_lost_total', ['job', 'instance']),
          rate2m('instance', 'forkwatch_netlink_drops_total', ['job', 'instance']),
          rate2m('instance', 'forkwatch_messages_invalid_total', ['job', 'instance']),
        ],
      },
    ],
  },
}
