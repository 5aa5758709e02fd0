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
// Label values such as comm (and unit, from cgroup names) come from processes and may be
// hostile. They appear in descriptions only; no runbook pastes one into a shell command.
//
// Alerts about a workload carry its namespace and pod as labels (the series' own), so that
// Alertmanager can route them to the team that owns the namespace.
local text = import 'lib/text.libsonnet';

// Alert templates that look up more about the alert's own forkwatch, by its job and
// instance: `printf` fills the two %q with them, quoted.
local onInstance(promql) = '{{ with printf "' + promql + '" $labels.job $labels.instance | query }}';
local valueOnInstance(promql) = onInstance(promql) + '{{ . | first | value | humanize }}{{ else }}unknown{{ end }}';
// The same for a pod's own series, by job, instance, namespace and pod.
local valueOfPod(promql) =
  '{{ with printf "' + promql + '" $labels.job $labels.instance $labels.namespace $labels.pod | query }}'
  + '{{ . | first | value | humanize }}{{ else }}unknown{{ end }}';
// Where a suspect's processes are: the pod and container, else the systemd unit (or cgroup).
local where =
  '{{ if $labels.pod }}pod {{ $labels.namespace }}/{{ $labels.pod }} (container {{ $labels.container }})'
  + '{{ else }}{{ $labels.unit }}{{ end }}';
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
                in %(where)s of being a fork bomb: they fork copies of themselves, which fork
                again, without exec. Deepest fork-without-exec chain alive:
                %(depth)s;
                forks deep in chains:
                %(chainForks)s/s.
                Busiest parents:
                %(parents)s.
              ||| % {
                where: where,
                depth: valueOnInstance('forkwatch_fork_chain_depth_max{job=%q,instance=%q}'),
                chainForks: valueOnInstance('sum(rate(forkwatch_chain_forks_total{job=%q,instance=%q}[2m]))'),
                parents: busiestParents,
              }),
            },
          },
        ],
      },

      // What the processes' lives say: PIDs running out, crashes.
      {
        name: 'forkwatch-lifecycle',
        rules: [
          // Every process and every thread takes a PID below kernel.pid_max; when none is
          // left, fork() and pthread_create() fail with EAGAIN everywhere on the node. The
          // threshold leaves time to act on a slow leak; a fork bomb gets there in seconds,
          // and ForkBombSuspected says so first. The wait skips a passing burst.
          // forkwatch_pid_max has no sample where forkwatch cannot read it: no alert then.
          {
            alert: 'NodePidsNearLimit',
            expr: '(forkwatch_processes + forkwatch_threads) / forkwatch_pid_max > %(nodePidsNearLimitRatio)s' % $._config,
            'for': $._config.nodePidsNearLimitFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'A node is running out of process IDs.',
              description: text.oneLine(|||
                {{ $labels.instance }} has {{ $value | humanizePercentage }} of its process IDs
                in use:
                %(processes)s
                processes and
                %(threads)s
                other threads against a pid_max of
                %(pidMax)s.
                Once they run out, new processes and threads fail to start.
              ||| % {
                processes: valueOnInstance('forkwatch_processes{job=%q,instance=%q}'),
                threads: valueOnInstance('forkwatch_threads{job=%q,instance=%q}'),
                pidMax: onInstance('forkwatch_pid_max{job=%q,instance=%q}') + '{{ . | first | value }}{{ else }}unknown{{ end }}',
              }),
            },
          },
          // Information, not a page: a crash is often handled (a restart) but should be
          // known. A new command name starts its series at 1, which increase() cannot see,
          // hence the second half. Summed by job, instance and comm, so a restart of
          // forkwatch (which changes its pod label) is not mistaken for new crashes. Where
          // Prometheus's data begins, every name with dumps since forkwatch started looks
          // new, for the window.
          {
            alert: 'CoreDumps',
            expr: |||
              sum by (job, instance, comm) (increase(forkwatch_coredumps_total[%(coreDumpsWindow)s])) > 0
                or
              sum by (job, instance, comm) (forkwatch_coredumps_total unless forkwatch_coredumps_total offset %(coreDumpsWindow)s) > 0
            ||| % $._config,
            'for': '0s',
            labels: { severity: 'info' },
            annotations: {
              summary: 'Processes are crashing with core dumps.',
              description: text.oneLine(|||
                Processes named "{{ $labels.comm }}" on {{ $labels.instance }} started about
                {{ printf "%%.0f" $value }} core dumps in the last %(window)s: they died of a
                signal such as SIGSEGV or SIGABRT. Whether a core file was written depends on
                RLIMIT_CORE and kernel.core_pattern.
              ||| % { window: text.duration($._config.coreDumpsWindow) }),
            },
          },
        ],
      },

      // Pods and their PID limits (kubelet's podPidsLimit, pids.max of the pod's cgroup). Both
      // carry namespace and pod: they are the pod owner's to act on.
      {
        name: 'forkwatch-pods',
        rules: [
          // Near the limit, every new process or thread is one of the last few: the pod is
          // about to fail (fork: Resource temporarily unavailable). For a while, so that a
          // burst of short-lived processes that fits does not page.
          {
            alert: 'PodPidsNearLimit',
            expr: |||
              forkwatch_pod_pids / forkwatch_pod_pids_limit > %(podPidsNearLimitRatio)g
            ||| % $._config,
            'for': $._config.podPidsNearLimitFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Pod near its PID limit.',
              description: text.oneLine(|||
                Pod {{ $labels.namespace }}/{{ $labels.pod }} on {{ $labels.instance }} holds
                {{ $value | humanizePercentage }} of its PID limit
                (%(current)s of %(limit)s processes and threads)
                for %(for)s. At the limit the kernel refuses its forks.
              ||| % {
                current: valueOfPod('forkwatch_pod_pids{job=%q,instance=%q,namespace=%q,pod=%q}'),
                limit: valueOfPod('forkwatch_pod_pids_limit{job=%q,instance=%q,namespace=%q,pod=%q}'),
                'for': text.duration($._config.podPidsNearLimitFor),
              }),
            },
          },
          // A refused fork is a process or thread that did not start: something in the pod
          // failed just now. No waiting; the window keeps one burst firing long enough to
          // be delivered. increase() treats a restart of forkwatch as a reset.
          {
            alert: 'PodForksRefused',
            expr: 'increase(forkwatch_pod_forks_refused_total[%(podForksRefusedWindow)s]) > 0' % $._config,
            'for': '0s',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'The kernel refused forks of a pod at its PID limit.',
              description: text.oneLine(|||
                The kernel refused about {{ printf "%%.0f" $value }} forks of pod
                {{ $labels.namespace }}/{{ $labels.pod }} on {{ $labels.instance }} in the last
                %(window)s: it is at its PID limit of %(limit)s processes and threads, and
                programs in it fail to start processes or threads.
              ||| % {
                window: text.duration($._config.podForksRefusedWindow),
                limit: valueOfPod('forkwatch_pod_pids_limit{job=%q,instance=%q,namespace=%q,pod=%q}'),
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
