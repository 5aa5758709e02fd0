// The Grafana dashboards, as the files users import. Their source is TypeScript
// (dashboards/src, on the Grafana foundation SDK); `npm run dashboards` writes the JSON
// this imports, and test/deploy/mixin.test.ts fails when the two differ.
{
  grafanaDashboards+:: {
    'forkwatch-overview.json': import '../../dashboards/forkwatch-overview.json',
  },
}
