// What a user of the mixin may change. Override any field when importing it:
//
//   (import 'forkwatch/deploy/mixin/mixin.libsonnet') + {
//     _config+:: { forkwatchSelector: 'job="node-forkwatch"', forkRateHighFactor: 10 },
//   }
//
// The defaults render deploy/prometheus/forkwatch-rules.yml (npm run generate:rules).
{
  _config+:: {
    // The scrape job. Only `up` needs a selector to tell forkwatch's targets from others
    // (ForkwatchDown). The default matches job="forkwatch", the job the ServiceMonitor in
    // deploy/kubernetes gives, and also "kubernetes-forkwatch" or "forkwatch-canary". The
    // forkwatch_* metrics name their exporter already, so their rules take any job: a job
    // renamed to something else entirely still gets fork-bomb alerts.
    forkwatchSelector: 'job=~".*forkwatch.*"',

    // ForkRateHigh fires when an instance makes this many times its usual process fork
    // rate, for forkRateHighFor. The usual rate counts as at least forkRateHighFloor
    // forks/s, so nothing under factor x floor (50 forks/s) pages: an idle node's baseline
    // is 1 to 5 forks/s, and an ssh login, a package install or a few cron jobs take it
    // to 10 or 40 (a 10x jump) without anything being wrong; runaway loops and bombs run
    // at hundreds to thousands per second.
    forkRateHighFactor: 5,
    forkRateHighFloor: 10,
    forkRateHighFor: '5m',

    // ForkwatchEventsLost fires while this window holds a loss. 5m keeps a single lost
    // burst firing long enough to be delivered.
    eventsLostWindow: '5m',

    // ForkwatchNotSubscribed: 2 minutes, because forkwatch_subscribed is 0 from start-up
    // until the kernel's acknowledgement (forkwatch exits after 5 s without one).
    notSubscribedFor: '2m',

    // ForkwatchDown for one target, and for the whole job gone (no target at all). 10
    // minutes for the job covers a Prometheus restart and a ServiceMonitor being replaced.
    targetDownFor: '5m',
    jobAbsentFor: '10m',

    // Every alert's runbook_url is this, '#', and its name in lower case: the anchor of
    // its section in docs/runbooks.md. Point it at your own copy (a wiki, a fork) to
    // change the links.
    runbookURLBase: 'https://github.com/forkwatch/forkwatch/blob/main/docs/runbooks.md',
  },
}
