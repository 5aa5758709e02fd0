// Whether forkwatch asks the Kubernetes API for pod names, decided at start-up from the
// flags and the environment:
//   --no-kubernetes                     never; pods are named by uid
//   --kubernetes.kubeconfig FILE        through FILE (a bad one stops start-up)
//   inside a pod (KUBERNETES_SERVICE_*) through the pod's service account
//   anywhere else                       never, with one info line
// The client library is loaded only when it is used: it is large, and most of a node's
// life forkwatch needs nothing from it but names.
import type { PodWatch } from '../exporter.js';
import type { Logger } from '../log.js';
import type { Options } from './flags.js';

/** A start-up error the user caused with a flag or its environment: one line, exit 2. */
export class KubernetesFlagError extends Error {}

/**
 * The pod cache to run, or undefined when forkwatch does not ask the API. Throws
 * KubernetesFlagError. `serviceAccountRoot` prefixes the service account's files (tests).
 */
export async function podWatch(options: Options, logger: Logger, serviceAccountRoot = ''): Promise<PodWatch | undefined> {
  // The kubelet sets these in every pod.
  const inPod = Boolean(process.env.KUBERNETES_SERVICE_HOST && process.env.KUBERNETES_SERVICE_PORT);
  if (options.noKubernetes) {
    logger.info('not asking the Kubernetes API (--no-kubernetes): pods are named by uid');
    return undefined;
  }
  if (options.kubernetesKubeconfig === undefined && !inPod) {
    logger.info('not in a Kubernetes pod and no --kubernetes.kubeconfig given: pods are named by uid');
    return undefined;
  }
  const { loadKubeConfig, PodCache } = await import('../workloads/kubernetes.js');
  let kubeConfig;
  try {
    kubeConfig = loadKubeConfig(options.kubernetesKubeconfig, serviceAccountRoot);
  } catch (error) {
    if (options.kubernetesKubeconfig !== undefined) throw new KubernetesFlagError(`--kubernetes.kubeconfig: ${(error as Error).message}`);
    // In a pod without a token (automountServiceAccountToken: false): forkwatch still
    // counts and attributes everything, by uid; the line says how to get names.
    logger.warn(`pods are named by uid: ${(error as Error).message}`);
    return undefined;
  }
  if (options.kubernetesNodeName === undefined) {
    throw new KubernetesFlagError(
      'no node name to watch the pods of: set NODE_NAME from spec.nodeName (the downward API), or give --kubernetes.node-name, or --no-kubernetes',
    );
  }
  return new PodCache({ nodeName: options.kubernetesNodeName, kubeConfig, log: logger });
}
