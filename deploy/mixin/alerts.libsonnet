// forkwatch's alerts: the one place they are written. deploy/prometheus/forkwatch-rules.yml
// and deploy/kubernetes/prometheusrule.yaml are generated from this mixin
// (npm run generate:rules), and test/deploy/forkwatch-rules.test.yml unit-tests the result.
//
// To add an alert: add it to a group below with a `severity` label (critical, warning or
// info), a static `summary` (no {{ }}) and a templated `description` (what, where, how
// much); write its section in docs/runbooks.md under a heading that is its name (the
// mixin links it as runbook_url); add its unit tests; run npm run generate:rules.
// test/deploy/alert-conventions.test.ts fails until all of that holds.
//
// Values a test may shorten (each is rendered plainly so a textual rewrite finds it):
//   - every `for: <duration>`, each on its own line;
//   - the fork-rate window `[2m]` in instance:forkwatch_process_forks:rate2m (and in
//     ForkBombSuspected's description, where it only changes a displayed rate);
//   - the baseline: its window `[6h]`, its end `offset 10m`, and the history it needs,
//     `[10m] offset 1h`;
//   - the events-lost window (_config.eventsLostWindow).
// If you shorten them, keep rate window + ForkRateHigh's `for` shorter than the baseline
// offset, or a spike joins its own baseline before the alert can fire.
//
// Label values such as comm come from processes and may be hostile. They appear in
// descriptions only; no runbook pastes one into a shell command.
local text = import 'lib/text.libsonnet';

// Alert templates that look up more about the alert's own forkwatch, by its job and
// instance: `printf` fills the two %q with them, quoted.
local onInstance(promql) = '{{ with printf "' + promql + '" $labels.job $labels.instance | query }}';
local valueOnInstance(promql) = onInstance(promql) + '{{ . | first | value | humanize }}{{ else }}unknown{{ end }}';
local busiestParents =
  onInstance('topk(3, forkwatch_top_parent_forks{job=%q,instance=%q})')
  + '{{ range $i, $p := . }}{{ if $i }}, {{ end }}{{ $p.Labels.comm }} pid {{ $p.Labels.pid }} ({{ $p.Value | humanize }} forks){{ end }}'
  + '{{ else }}none reported{{ end }}';

{
  prometheusAlerts+:: {
    groups+: [
      // The fork rate against the instance's own past: no fixed number fits both an idle
      // node and a CI runner. The rate and its baseline are recorded in the alert's own
      // group, which evaluates its rules in order, so that ForkRateHigh compares this
      // evaluation's rate (a group of its own would run on its own schedule).
      {
        name: 'forkwatch-fork-rate',
        rules: [
          // Process forks per second on each instance (threads are left out: thread pools
          // churn without harm). By job and instance only, so the series, and the baseline
          // built from it, survive a restart of the forkwatch pod, which changes its pod label.
          {
            record: 'instance:forkwatch_process_forks:rate2m',
            expr: 'sum by (job, instance) (rate(forkwatch_forks_total{kind="process"}[2m]))',
          },
          // The usual rate: the 95th percentile of the last 6 hours, ending 10 minutes ago so
          // that a spike is not part of its own baseline while ForkRateHigh waits out its
          // `for`. A high percentile, so that a steady busy node is judged by its busy level,
          // and not the maximum, so that bursts filling under 5% of the window (18 minutes)
          // do not raise it. A new level that lasts becomes the baseline once it fills 5% of
          // the window: ForkRateHigh then resolves by itself, about half an hour after it
          // began. Empty until the instance has an hour of history: a new node has no baseline
          // and its first build must not page.
          {
            record: 'instance:forkwatch_process_forks:rate2m_baseline',
            expr: |||
              quantile_over_time(0.95, instance:forkwatch_process_forks:rate2m[6h] offset 10m)
                and
              present_over_time(instance:forkwatch_process_forks:rate2m[10m] offset 1h)
            |||,
          },
          // forkRateHighFactor times the usual rate, for forkRateHighFor; the baseline counts
          // as at least forkRateHighFloor forks/s (config.libsonnet says why).
          {
            alert: 'ForkRateHigh',
            expr: |||
              instance:forkwatch_process_forks:rate2m
                > %(forkRateHighFactor)s * clamp_min(instance:forkwatch_process_forks:rate2m_baseline, %(forkRateHighFloor)s)
            ||| % $._config,
            'for': $._config.forkRateHighFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Fork rate over %s times its usual level.' % $._config.forkRateHighFactor,
              description: text.oneLine(|||
                {{ $labels.instance }} makes {{ $value | humanize }} process forks/s; its usual
                level (95th percentile of the last 6 hours) is
                %(baseline)s
                forks/s. Busiest parents:
                %(parents)s.
              ||| % {
                baseline: valueOnInstance('instance:forkwatch_process_forks:rate2m_baseline{job=%q,instance=%q}'),
                parents: busiestParents,
              }),
            },
          },
        ],
      },

      {
        name: 'forkwatch-forkbomb',
        rules: [
          // No waiting: a bomb exhausts a node's PIDs in seconds, and the detector already
          // waits for several processes deep in fork-without-exec chains, and holds a
          // suspicion for a while (--forkbomb.clear-after), so it does not flap. How soon this
          // pages is the scrape plus evaluation interval.
          {
            alert: 'ForkBombSuspected',
            expr: 'forkwatch_forkbomb_suspected == 1',
            'for': '0s',
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Fork bomb suspected.',
              description: text.oneLine(|||
                forkwatch on {{ $labels.instance }} suspects processes named "{{ $labels.comm }}"
                of being a fork bomb: they fork copies of themselves, which fork again, without
                exec. Deepest fork-without-exec chain alive:
                %(depth)s;
                forks deep in chains:
                %(chainForks)s/s.
                Busiest parents:
                %(parents)s.
              ||| % {
                depth: valueOnInstance('forkwatch_fork_chain_depth_max{job=%q,instance=%q}'),
                chainForks: valueOnInstance('sum(rate(forkwatch_chain_forks_total{job=%q,instance=%q}[2m]))'),
                parents: busiestParents,
              }),
            },
          },
        ],
      },

      // forkwatch itself: when these fire, the node is partly or wholly blind to fork bombs.
      {
        name: 'forkwatch-exporter',
        rules: [
          // Any loss means the counts are short and the detector may see too little.
          // increase() treats a forkwatch restart (the counter back to 0) as a reset, not as loss.
          {
            alert: 'ForkwatchEventsLost',
            expr: 'increase(forkwatch_events_lost_total[%(eventsLostWindow)s]) > 0' % $._config,
            'for': '0s',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'forkwatch is missing process events.',
              description: text.oneLine(|||
                forkwatch on {{ $labels.instance }} lost about {{ printf "%%.0f" $value }} process
                events in the last %(window)s (gaps in the kernel's sequence numbers). Its fork
                counts are short and the fork-bomb detector may miss forks until it stops.
              ||| % { window: text.duration($._config.eventsLostWindow) }),
            },
          },
          // Warning, not critical: a forkwatch that is not subscribed is as blind as one that is
          // down, and ForkwatchDown is a warning; neither harms the node's workloads by itself.
          {
            alert: 'ForkwatchNotSubscribed',
            expr: 'forkwatch_subscribed == 0',
            'for': $._config.notSubscribedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'forkwatch receives no process events.',
              description: text.oneLine(|||
                forkwatch on {{ $labels.instance }} runs but the kernel has not confirmed its
                subscription to process events: it counts no forks there and cannot detect a
                fork bomb.
              |||),
            },
          },
          {
            alert: 'ForkwatchDown',
            expr: 'up{%(forkwatchSelector)s} == 0' % $._config,
            'for': $._config.targetDownFor,
            labels: { severity: 'warning', scope: 'target' },
            annotations: {
              summary: 'forkwatch is down.',
              description: text.oneLine(|||
                Prometheus has failed to scrape forkwatch at {{ $labels.instance }} (job
                {{ $labels.job }}) for %(for)s: fork bombs on that node go undetected.
              ||| % { 'for': text.duration($._config.targetDownFor) }),
            },
          },
          // The whole job gone: no forkwatch target at all, so `up == 0` above has nothing to
          // fire on. This happens when the ServiceMonitor stops selecting the Service, or the
          // DaemonSet is deleted or schedules nowhere. (Unready pods stay scraped: the Service
          // in deploy/kubernetes publishes not-ready addresses, so that ForkwatchNotSubscribed
          // can fire for a pod the kernel has not confirmed.)
          // absent() cannot know which instances ought to exist, so one node's target vanishing
          // is not covered; watching for instances seen earlier but gone now would page on every
          // node the autoscaler removes. The whole job gone has no such false positive: its one
          // is these rules loaded into a Prometheus that does not scrape forkwatch, so load them
          // only where forkwatch is scraped; and a job the selector does not match, which the
          // description names. The same alert name as a down target, told apart by `scope`
          // (promtool's lint also wants the two rules' labels to differ).
          {
            alert: 'ForkwatchDown',
            expr: 'absent(up{%(forkwatchSelector)s})' % $._config,
            'for': $._config.jobAbsentFor,
            labels: { severity: 'warning', scope: 'job' },
            annotations: {
              summary: 'No forkwatch target is being scraped.',
              description: text.oneLine(|||
                Prometheus has had no scrape target matching up{%(selector)s} for %(for)s: no
                node is watched for fork bombs. Jobs that do export forkwatch_build_info:
                {{ with query "count by (job) (forkwatch_build_info)" | sortByLabel "job" }}{{ range $i, $s := . }}{{ if $i }}, {{ end }}{{ $s.Labels.job }}{{ end }}{{ else }}none{{ end }}
                (the rules' job selector misses any named here).
              ||| % { selector: $._config.forkwatchSelector, 'for': text.duration($._config.jobAbsentFor) }),
            },
          },
        ],
      },
    ],
  },
}
