// Label sets stay bounded while workloads come and go: 5,000 short-lived workloads (each a
// real cgroup below a capped test cgroup, a process moved into it the way runc moves a
// container's first process, which execs and forks once, then the cgroup removed) with
// --workloads.max 50 and a retention of 3 s. /metrics never holds more than 50 workloads
// (and __other__), and once the churn ends the gone ones leave the page after the retention.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { containmentUnavailable, createContainment, destroyAllContainments, type Containment } from '../helpers/cgroup.js';
import { forkerNamed, removeForkers } from '../helpers/forker.js';
import { sleep, startForkwatch, type RunningForkwatch } from '../helpers/forkwatch-process.js';
import { kernelUnavailable } from '../helpers/kernel.js';
import { parseSamples } from '../helpers/metrics-text.js';
import { describeIfAvailable } from '../helpers/requirements.js';

const WORKLOADS = 5000;
const MAX = 50;
const RETENTION_SECONDS = 3;
const WORKERS = 4;

const unavailable = kernelUnavailable ?? (await containmentUnavailable());
const describeKernelAndCgroups = describeIfAvailable(unavailable, 'needs the proc connector and pids cgroups');

// Each worker makes its share of the cgroups one after another: mkdir, a process that joins
// it and execs a forker (one fork), then rmdir once the process has gone.
const CHURN = `
base=$1 forker=$2 worker=$3 count=$4
i=0
while [ $i -lt $count ]; do
  d="$base/churn-$worker-$i"
  mkdir "$d"
  sh -c 'echo $$ > "$1/cgroup.procs" && exec "$2" forks 1' sh "$d" "$forker"
  until rmdir "$d" 2>/dev/null; do sleep 0.01; done
  i=$((i + 1))
done
`;

describeKernelAndCgroups(`${WORKLOADS} short-lived workloads with --workloads.max ${MAX}`, () => {
  let forkwatch: RunningForkwatch;
  let containment: Containment;

  beforeAll(async () => {
    forkwatch = await startForkwatch(['--no-kubernetes', '--workloads.max', String(MAX), '--workloads.retention', `${RETENTION_SECONDS}s`]);
    containment = createContainment(50);
  }, 60_000);

  afterAll(async () => {
    await destroyAllContainments();
    await forkwatch?.stop();
    removeForkers();
  });

  /** The units of forkwatch_workload_forks_total and _processes now, by metric. */
  async function workloadUnits(): Promise<{ forks: string[]; processes: string[] }> {
    const samples = parseSamples(await forkwatch.scrape());
    const units = (name: string) => samples.filter((sample) => sample.name === name).map((sample) => `${sample.labels.pod}|${sample.labels.container}|${sample.labels.unit}`);
    return { forks: units('forkwatch_workload_forks_total'), processes: units('forkwatch_workload_processes') };
  }

  it('never shows more than --workloads.max workloads, and drops the gone ones after the retention', async () => {
    const base = containment.paths[0]!; // the pids (v1) or only (v2) cgroup
    const forker = forkerNamed('fw-churn');
    const workers = Array.from({ length: WORKERS }, (_, worker) => {
      const child = spawn('sh', ['-c', CHURN, 'sh', base, forker, String(worker), String(WORKLOADS / WORKERS)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += chunk));
      return once(child, 'exit').then(([code]) => {
        if (code !== 0) throw new Error(`churn worker ${worker} failed (${code}): ${stderr}`);
      });
    });
    let done = false;
    const finished = Promise.all(workers).finally(() => (done = true));

    let most = 0;
    const churnSeen = new Set<string>();
    let scrapes = 0;
    while (!done) {
      const { forks, processes } = await workloadUnits();
      most = Math.max(most, forks.length, processes.length);
      for (const unit of [...forks, ...processes]) if (unit.includes('|churn-')) churnSeen.add(unit);
      scrapes++;
      await sleep(100);
    }
    await finished;
    console.log(`${WORKLOADS} workloads: at most ${most} label sets on /metrics over ${scrapes} scrapes; ${churnSeen.size} churn workloads seen under their names`);

    expect(scrapes).toBeGreaterThan(10);
    expect(most).toBeLessThanOrEqual(MAX + 1); // and __other__
    expect(churnSeen.size).toBeGreaterThan(MAX); // workloads came and went, each with its own labels for a while
    const other = parseSamples(await forkwatch.scrape()).find((sample) => sample.name === 'forkwatch_workload_forks_total' && sample.labels.unit === '__other__');
    expect(other?.value).toBeGreaterThan(0); // the ones past the cap were counted all the same

    // Gone for the retention (plus the sweep's second): no churn workload is left.
    const deadline = Date.now() + (RETENTION_SECONDS + 10) * 1000;
    let left: string[];
    for (;;) {
      const { forks, processes } = await workloadUnits();
      left = [...forks, ...processes].filter((unit) => unit.includes('|churn-'));
      if (left.length === 0 || Date.now() > deadline) break;
      await sleep(250);
    }
    expect(left).toEqual([]);
  }, 180_000);
});
