// forkwatch as a monitoring mixin: prometheusAlerts, prometheusRules and grafanaDashboards,
// configured by _config (config.libsonnet). README, "Monitoring mixin", says how to render
// and import it.
local withRunbookURL(config) = {
  prometheusAlerts+:: {
    groups: [
      group {
        rules: [
          if std.objectHas(rule, 'alert')
          then rule { annotations+: { runbook_url: '%s#%s' % [config.runbookURLBase, std.asciiLower(rule.alert)] } }
          else rule
          for rule in super.rules
        ],
      }
      for group in super.groups
    ],
  },
};

local mixin =
  (import 'config.libsonnet')
  + (import 'alerts.libsonnet')
  + (import 'rules.libsonnet')
  + (import 'dashboards.libsonnet');

// Every alert links its section of docs/runbooks.md, whose heading is the alert's name.
mixin + withRunbookURL(mixin._config)
