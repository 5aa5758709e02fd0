// Reading, validating and rendering the Kubernetes manifests in deploy/kubernetes/, for the
// tests of the base, of its components, and of the probes against a real forkwatch.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { Namespace, ResourceQuota, Service, ServiceAccount } from 'kubernetes-models/v1';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../src/package.js';

export const BASE = 'deploy/kubernetes';
export const COMPONENTS = `${BASE}/components`;

// Every kind the base and its components may hold, by apiVersion and kind, with its schema's validator.
const MODELS: Record<string, { prototype: { validate(): void } }> = {
  'v1/Namespace': Namespace,
  'v1/ResourceQuota': ResourceQuota,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'apps/v1/DaemonSet': DaemonSet,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

export function readText(path: string): string {
  return readFileSync(join(packageRoot, path), 'utf8');
}

export function parseManifests(text: string, source: string): Manifest[] {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0]?.message}`);
    return doc.toJS() as Manifest;
  });
}

/**
 * Validates a manifest with its kind's schema, and returns the paths of the fields the schema
 * does not know. The schemas allow unknown fields, as the API server does without strict
 * field validation, so a misspelt field (`hostUser: true`) would pass unseen: the compiled
 * validators read every field their schema defines, so the fields they never read are
 * unknown to it.
 */
export function validateStrictly(manifest: Manifest): string[] {
  const model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  if (!model) throw new Error(`${manifest.apiVersion} ${manifest.kind} is not a kind this base may hold`);
  const read = new Set<string>();
  const present = new Set<string>();
  const watch = (value: unknown, path: string): unknown => {
    if (Array.isArray(value)) return value.map((item, i) => watch(item, `${path}[${i}]`));
    if (value === null || typeof value !== 'object') return value;
    const copy: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) {
      present.add(`${path}.${key}`);
      copy[key] = watch(field, `${path}.${key}`);
    }
    const note = (key: string | symbol): void => {
      if (typeof key === 'string') read.add(`${path}.${key}`);
    };
    return new Proxy(copy, {
      get: (target, key, receiver): unknown => (note(key), Reflect.get(target, key, receiver)),
      has: (target, key) => (note(key), Reflect.has(target, key)),
      // A map (labels, resources) is walked key by key: all its keys are known.
      ownKeys: (target) => (Reflect.ownKeys(target).forEach(note), Reflect.ownKeys(target)),
    });
  };
  model.prototype.validate.call(watch(manifest, ''));
  return [...present].filter((path) => !read.has(path));
}

// kubectl renders the manifests as `kubectl apply -k` will apply them. kubectl is on this
// project's machines, but no package source reachable here has a current one (Debian's
// kubernetes-client is 1.20, whose kustomize predates this base), so .ci/run cannot install it.
const probe = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
export const kubectlMissing = probe.error !== undefined || probe.status !== 0;

/** Runs kubectl in the package root; returns its output, or throws with its error. */
export function kubectl(args: string[], cwd = packageRoot): string {
  const run = spawnSync('kubectl', args, { cwd, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${run.stderr}`);
  return run.stdout;
}

/**
 * Renders the base with a component, through an overlay made as the README tells a user to
 * make one: a folder of their own whose kustomization lists the base and the component.
 * (kustomize takes neither absolute paths nor a base that holds the overlay.)
 */
export function renderWithComponent(component: string): Manifest[] {
  const overlay = mkdtempSync(join(tmpdir(), 'forkwatch-overlay-'));
  try {
    const path = (p: string): string => relative(overlay, join(packageRoot, p));
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        `  - ${path(BASE)}`,
        'components:',
        `  - ${path(`${COMPONENTS}/${component}`)}`,
        '',
      ].join('\n'),
    );
    return parseManifests(kubectl(['kustomize', overlay]), `${BASE} with ${component}`);
  } finally {
    rmSync(overlay, { recursive: true, force: true });
  }
}

export function find<T>(manifests: Manifest[], kind: string, name?: string): T {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (found.length !== 1) throw new Error(`${found.length} ${kind} objects${name ? ` named ${name}` : ''}, not 1`);
  return found[0] as T;
}
