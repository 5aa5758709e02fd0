// The container image's Dockerfile, read: its builder must run the README's set-up (npm ci,
// whose install and prepare scripts build the addon and the TypeScript), its package stage
// must hold exactly what that set-up produced, with production dependencies only, and the
// image must run that package. test/image/ builds and runs the image with podman, with the
// package this checkout built (the `prebuilt` target), since npm's registry is not
// reachable from inside a build on the project's machines; the stages it does not run are
// checked here.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/cli/flags.js';
import { packageRoot, version } from '../../src/package.js';
import { PACKAGE_FILES, PRODUCTION_INSTALL } from '../helpers/image.js';
import { nodeOptionsOf } from '../helpers/forkwatch-process.js';

interface Instruction {
  keyword: string; // upper case
  args: string; // ${NAME} of the ARGs in scope substituted
}

interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

function readText(path: string): string {
  return readFileSync(join(packageRoot, path), 'utf8');
}

/** The Dockerfile's stages: comments dropped, continuation lines joined, ARG defaults substituted. */
function parseDockerfile(text: string): Stage[] {
  const lines: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    lines.push(`${pending}${line}`.trim());
    pending = '';
  }
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  let stageArgs = new Map<string, string>();
  const substitute = (value: string, args: Map<string, string>) =>
    value.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => args.get(braced ?? bare ?? '') ?? whole);
  for (const line of lines.filter((l) => l !== '')) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const [image = '', as, name] = substitute(args, globalArgs).split(/\s+/);
      stages.push({ from: image, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
      stageArgs = new Map();
      continue;
    }
    if (upper === 'ARG') {
      const [name = '', value] = args.split('=');
      if (stages.length === 0) globalArgs.set(name, value ?? '');
      // A global ARG declared again in a stage brings its default into the stage.
      else stageArgs.set(name, value ?? globalArgs.get(name) ?? '');
    }
    const stage = stages.at(-1);
    if (stage) stage.instructions.push({ keyword: upper, args: substitute(args, stageArgs) });
  }
  return stages;
}

function all(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

/** The commands of a stage's RUN instructions, split at `&&`. */
function commands(stage: Stage): string[][] {
  return all(stage, 'RUN').flatMap((run) => run.split('&&').map((command) => command.trim().split(/\s+/)));
}

function workdir(stage: Stage): string {
  const dirs = all(stage, 'WORKDIR');
  expect(dirs, 'one WORKDIR').toHaveLength(1);
  return dirs[0]!;
}

/** LABEL key="value" ... as a map. */
function labels(stage: Stage): Map<string, string> {
  const found = new Map<string, string>();
  for (const args of all(stage, 'LABEL')) {
    for (const match of args.matchAll(/([\w.-]+)="((?:[^"\\]|\\.)*)"/g)) found.set(match[1]!, match[2]!.replace(/\\(.)/g, '$1'));
  }
  return found;
}

const pkg = JSON.parse(readText('package.json')) as {
  name: string;
  description: string;
  license: string;
  version: string;
  bin: Record<string, string>;
  scripts: Record<string, string>;
  engines: { node: string };
};
const stages = parseDockerfile(readText('Dockerfile'));

function stage(name: string): Stage {
  const found = stages.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`the Dockerfile has no stage named ${name}`);
  return found;
}

const builder = stage('build');
const packaged = stage('package');
const runtime = stage('runtime');
const prebuilt = stage('prebuilt');
// The last stage is the image `docker build` makes.
const image = stages.at(-1)!;

describe('Dockerfile', () => {
  it('has a builder, a package stage, the runtime without its package, and the image built or prebuilt', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'package', 'runtime', 'prebuilt', undefined]);
  });

  it('builds and runs on the same Node.js image, a current LTS release that forkwatch supports', () => {
    expect(packaged.from).toBe(builder.from);
    expect(runtime.from).toBe(builder.from);
    const match = /^node:(\d+)-bookworm-slim$/.exec(builder.from);
    expect(match, `a node:<major>-bookworm-slim image, not ${builder.from}`).not.toBeNull();
    const major = Number(match![1]);
    // LTS releases have even majors; 20 left maintenance in April 2026.
    expect(major % 2).toBe(0);
    expect(major).toBeGreaterThanOrEqual(22);
    expect(major).toBeGreaterThanOrEqual(Number(/>=\s*(\d+)/.exec(pkg.engines.node)?.[1]));
  });

  describe('the builder runs the README\'s set-up', () => {
    it('installs what node-gyp needs, which the README lists: python3, make and g++', () => {
      const install = commands(builder).find((c) => c[0] === 'apt-get' && c.includes('install'));
      expect(install).toEqual(expect.arrayContaining(['python3', 'make', 'g++']));
      expect(readText('README.md')).toContain('python3, make and g++');
    });

    it('takes the whole build context, as a clone has it', () => {
      expect(all(builder, 'COPY')).toEqual(['. .']);
    });

    it('runs npm ci: the set-up\'s npm install from the lockfile, as .ci/run does', () => {
      const npm = commands(builder).filter((c) => c[0] === 'npm');
      expect(npm).toEqual([['npm', 'ci']]);
      expect(readText('README.md')).toContain('npm install && npm start');
      expect(readText('.ci/run')).toMatch(/^npm ci$/m);
    });

    it('builds the addon and the TypeScript through npm\'s install and prepare scripts', () => {
      expect(pkg.scripts.install).toBe('node-gyp rebuild');
      expect(pkg.scripts.prepare).toBe('tsc -p tsconfig.build.json');
      // against the image's own Node.js headers (the node images install under /usr/local)
      expect(all(builder, 'ENV')).toContain('npm_config_nodedir=/usr/local');
    });
  });

  describe('the package stage', () => {
    it('installs production dependencies only, from the lockfile, running no package scripts', () => {
      expect(all(packaged, 'COPY')).toContain('package.json package-lock.json ./');
      // No compiler, no build, nothing else; the image test installs them the same way.
      expect(commands(packaged)).toEqual([PRODUCTION_INSTALL]);
      expect(PRODUCTION_INSTALL).toEqual(expect.arrayContaining(['--omit=dev', '--ignore-scripts']));
    });

    it('copies the addon the builder built to where forkwatch loads it from', () => {
      // binding.gyp's target, built by node-gyp into build/Release/<target>.node; the
      // loader (src/kernel/binding.ts) looks there under the package root.
      const gyp = JSON.parse(readText('binding.gyp').replace(/^\s*#.*$/gm, '')) as { targets: { target_name: string }[] };
      const addon = `build/Release/${gyp.targets[0]!.target_name}.node`;
      expect(readText('src/kernel/binding.ts')).toContain("join(packageRoot, 'build', 'Release', 'forkwatch.node')");
      expect(all(packaged, 'COPY')).toContain(`--from=${builder.name} ${posix.join(workdir(builder), addon)} ${addon}`);
    });

    it('copies the compiled forkwatch command, and package.json, which it reads its version from', () => {
      const tsconfig = JSON.parse(readText('tsconfig.json')) as { compilerOptions: { outDir: string } };
      const compiled = posix.join(tsconfig.compilerOptions.outDir, 'src');
      expect(all(packaged, 'COPY')).toContain(`--from=${builder.name} ${posix.join(workdir(builder), compiled)} ${compiled}`);
      expect(pkg.bin.forkwatch?.startsWith(`${compiled}/`)).toBe(true);
      // src/package.ts finds the package root by its package.json, and reads the version there.
      expect(all(packaged, 'COPY').some((args) => args.split(/\s+/).includes('package.json'))).toBe(true);
    });

    it('holds the files the image test assembles for the prebuilt stage, no more and no fewer', () => {
      const copied = all(packaged, 'COPY').flatMap((args) => {
        const words = args.split(/\s+/).filter((word) => !word.startsWith('--'));
        // `COPY a b ./` copies a and b into the folder; `COPY x y` copies x to y.
        return words.at(-1)!.endsWith('/') ? words.slice(0, -1) : [words.at(-1)!];
      });
      expect(copied.sort()).toEqual([...PACKAGE_FILES].sort());
    });
  });

  describe('the image', () => {
    it('is the runtime stage with the package stage\'s package, and nothing else', () => {
      expect(image.from).toBe(runtime.name);
      expect(image.instructions).toEqual([{ keyword: 'COPY', args: `--from=${packaged.name} ${workdir(packaged)} ./` }]);
      expect(workdir(runtime)).toBe(workdir(packaged));
    });

    it('can be built with the package prebuilt: the whole build context, laid out as the package stage lays it out', () => {
      expect(prebuilt.from).toBe(runtime.name);
      expect(prebuilt.instructions).toEqual([{ keyword: 'COPY', args: '. ./' }]);
    });

    it('runs nothing while it is built: no compiler, no package manager', () => {
      expect(all(runtime, 'RUN')).toEqual([]);
    });

    it('runs the forkwatch command as its entrypoint, with its Node.js options and no default arguments', () => {
      const entrypoint = JSON.parse(all(runtime, 'ENTRYPOINT')[0] ?? 'null') as unknown;
      const options = nodeOptionsOf(join(packageRoot, 'src', 'cli.ts'));
      expect(entrypoint).toEqual(['node', ...options, posix.join(workdir(runtime), pkg.bin.forkwatch!)]);
      expect(all(runtime, 'CMD')).toEqual([]);
    });

    it('exposes forkwatch\'s default port', () => {
      const parsed = parseFlags([], version);
      if (parsed.kind !== 'run') throw new Error('forkwatch refuses no flags at all');
      expect(all(runtime, 'EXPOSE')).toEqual([String(parsed.options.listenPort)]);
    });

    it('runs as root, which the capability it is given needs', () => {
      expect(all(runtime, 'USER')).toEqual(['root']);
    });

    it('carries the OCI labels, from package.json', () => {
      const found = labels(runtime);
      expect(found.get('org.opencontainers.image.title')).toBe(pkg.name);
      expect(found.get('org.opencontainers.image.description')).toBe(pkg.description);
      expect(found.get('org.opencontainers.image.version')).toBe(pkg.version);
      expect(found.get('org.opencontainers.image.licenses')).toBe(pkg.license);
      expect(found.get('org.opencontainers.image.base.name')).toBe(runtime.from);
    });
  });
});

/** .dockerignore's patterns, as Docker reads them: relative to the context's root. */
const ignorePatterns = readText('.dockerignore')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/^\/+|\/+$/g, '')
    .split(/(\*\*\/?|\*|\?)/)
    .map((part) => (part.startsWith('**') ? '(?:.*/)?' : part === '*' ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

/** Whether Docker leaves a path (or the folder it is in) out of the build context. */
function ignored(path: string): boolean {
  const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const pattern of ignorePatterns) {
    const negated = pattern.startsWith('!');
    const regexp = globToRegExp(negated ? pattern.slice(1) : pattern);
    if (prefixes.some((prefix) => regexp.test(prefix))) excluded = !negated;
  }
  return excluded;
}

const git = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: packageRoot, encoding: 'utf8' });
const cloneFiles = git.status === 0 ? git.stdout.split('\0').filter((file) => file !== '') : undefined;

describe('.dockerignore', () => {
  it('leaves out the host\'s dependencies and builds, git\'s history and logs', () => {
    for (const path of ['node_modules', 'build', 'dist', '.git', 'npm-debug.log']) expect(ignored(path), path).toBe(true);
    expect(ignored('build/Release/forkwatch.node')).toBe(true);
  });

  it('leaves out everything git ignores', () => {
    const gitignore = readText('.gitignore')
      .split('\n')
      .map((line) => line.trim().replace(/\/$/, ''))
      .filter((line) => line !== '' && !line.startsWith('#'));
    for (const pattern of gitignore) expect(ignorePatterns, `.gitignore's ${pattern}`).toContain(pattern);
  });

  it.skipIf(cloneFiles === undefined)(`keeps every file a clone has${cloneFiles === undefined ? ' (skipped: not a git work tree)' : ''}`, () => {
    expect(cloneFiles!.length).toBeGreaterThan(0);
    expect(cloneFiles!.filter(ignored)).toEqual([]);
  });
});
