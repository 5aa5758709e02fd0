// forkwatch as a monitoring mixin: prometheusAlerts, prometheusRules and grafanaDashboards,
// configured by _config (config.libsonnet). README, "Monitoring mixin", says how to render
// and import it.

// Every alert links its section of docs/runbooks.md, whose heading is the alert's name.
// $._config is the user's, overrides included.
local runbookURLs = {
  prometheusAlerts+:: {
    groups: [
      group {
        rules: [
          if std.objectHas(rule, 'alert')
          then rule { annotations+: { runbook_url: '%s#%s' % [$._config.runbookURLBase, std.asciiLower(rule.alert)] } }
          else rule
          for rule in super.rules
        ],
      }
      for group in super.groups
    ],
  },
};

(import 'config.libsonnet')
+ (import 'alerts.libsonnet')
+ (import 'rules.libsonnet')
+ (import 'dashboards.libsonnet')
+ runbookURLs
