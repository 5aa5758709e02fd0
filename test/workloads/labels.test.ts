import { describe, expect, it } from 'vitest';
import { boundLabel, MAX_LABEL_CHARS } from '../../src/workloads/bound-label.js';
import { podLabels, workloadLabels, type PodNames } from '../../src/workloads/labels.js';
import type { Workload } from '../../src/workloads/layouts.js';

const UID = '0f2b7a3e-6c1d-4e8a-9b5f-2d4c6e8a0b1c';
const ID = '3f1c9e2ab84d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e';

const known: PodNames = {
  names: (uid) => (uid === UID ? { namespace: 'shop', name: 'cart-7d9f8' } : undefined),
  containerName: (uid, id) => (uid === UID && id === ID ? 'app' : undefined),
};

describe('workloadLabels', () => {
  it.each<[string, Workload, PodNames | undefined, object]>([
    ['a unit', { kind: 'unit', unit: 'cron.service' }, known, { namespace: '', pod: '', container: '', unit: 'cron.service' }],
    ['a known pod and container', { kind: 'pod', podUid: UID, containerId: ID, podCgroups: [] }, known, { namespace: 'shop', pod: 'cart-7d9f8', container: 'app', unit: '' }],
    ['a known pod, the pod\'s own cgroup', { kind: 'pod', podUid: UID, podCgroups: [] }, known, { namespace: 'shop', pod: 'cart-7d9f8', container: '', unit: '' }],
    ['a known pod, a container not in its statuses yet', { kind: 'pod', podUid: UID, containerId: 'f'.repeat(64), podCgroups: [] }, known, { namespace: 'shop', pod: 'cart-7d9f8', container: 'id:ffffffffffff', unit: '' }],
    ['an unknown pod', { kind: 'pod', podUid: 'other', containerId: ID, podCgroups: [] }, known, { namespace: '', pod: 'uid:other', container: 'id:3f1c9e2ab84d', unit: '' }],
    ['no Kubernetes API at all', { kind: 'pod', podUid: UID, containerId: ID, podCgroups: [] }, undefined, { namespace: '', pod: `uid:${UID}`, container: 'id:3f1c9e2ab84d', unit: '' }],
  ])('%s', (_what, workload, pods, expected) => {
    expect(workloadLabels(workload, pods)).toEqual(expected);
  });

  it('bounds names that come from the API', () => {
    const hostile: PodNames = { names: () => ({ namespace: 'n\n"s', name: 'p'.repeat(1000) }), containerName: () => 'c\u0000' };
    const labels = workloadLabels({ kind: 'pod', podUid: UID, containerId: ID, podCgroups: [] }, hostile);
    expect(labels.namespace).toBe('n\uFFFD"s');
    expect(Array.from(labels.pod)).toHaveLength(MAX_LABEL_CHARS);
    expect(labels.container).toBe('c\uFFFD');
  });
});

describe('podLabels', () => {
  it('names a pod once known, by uid until then', () => {
    expect(podLabels(UID, known)).toEqual({ namespace: 'shop', pod: 'cart-7d9f8' });
    expect(podLabels('x', known)).toEqual({ namespace: '', pod: 'uid:x' });
  });
});

describe('boundLabel', () => {
  it.each([
    ['plain', 'cron.service', 'cron.service'],
    ['control characters', 'a\tb\u007f', 'a\uFFFDb\uFFFD'],
    ['a lone surrogate', 'x\udc00', 'x\uFFFD'],
    ['a pair stays whole', '😀', '😀'],
    ['exactly the limit', 'a'.repeat(MAX_LABEL_CHARS), 'a'.repeat(MAX_LABEL_CHARS)],
    ['one over', 'a'.repeat(MAX_LABEL_CHARS + 1), `${'a'.repeat(MAX_LABEL_CHARS - 1)}…`],
    ['astral characters counted once each', '😀'.repeat(MAX_LABEL_CHARS + 5), `${'😀'.repeat(MAX_LABEL_CHARS - 1)}…`],
  ])('%s', (_what, value, expected) => {
    expect(boundLabel(value)).toBe(expected);
  });
});
