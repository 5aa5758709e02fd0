// Writes every shipped dashboard's JSON into dashboards/ (`npm run dashboards`).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DASHBOARDS, DASHBOARDS_DIR, render } from './dashboards.js';

for (const { file, build } of DASHBOARDS) {
  const path = join(DASHBOARDS_DIR, file);
  writeFileSync(path, render(build()));
  console.log(`wrote ${path}`);
}
