// The data's path, end to end: kernel socket -> decoding -> the process table -> each
// metric group's listener -> the registries that the HTTP side reads.
import { BatchDecoder } from './kernel/batches.js';
import { monotonicSecondNow } from './kernel/clock.js';
import { Subscription } from './kernel/subscription.js';
import type { Logger } from './log.js';
import type { GroupContext, MetricGroupInstance, ParentsSettings, SocketState, WorkloadSettings } from './metrics/group.js';
import { METRIC_GROUPS } from './metrics/groups.js';
import { createRegistries, eachRegistry, type Registries } from './metrics/registries.js';
import { Dispatcher } from './pipeline/dispatcher.js';
import type { Listener } from './pipeline/listener.js';
import { Procfs } from './processes/procfs.js';
import { Reconciler } from './processes/reconcile.js';
import { ProcessTable } from './processes/table.js';
import { Workloads, type PodSource } from './workloads/service.js';

/** The Kubernetes pod cache, as the exporter runs it (src/workloads/kubernetes.ts). */
export interface PodWatch extends PodSource {
  start(): void;
  stop(): void;
}

export interface ExporterOptions {
  receiveBufferBytes: number;
  parents: ParentsSettings;
  forkbomb: GroupContext['forkbomb'];
  workloads: WorkloadSettings;
  /** Names pods from the Kubernetes API; none: pods stay named by uid. */
  kubernetes?: PodWatch;
  version: string;
  logger: Logger;
  /** Where /proc is (default /proc): a replay of captured events brings its own. */
  procfs?: Procfs;
  /** The monotonic clock in whole seconds (default: the kernel's event clock now). */
  now?: () => number;
}

export class Exporter {
  readonly registries: Registries = createRegistries();
  /** The live process table, for tests that compare it with /proc. */
  readonly table: ProcessTable;
  private readonly dispatcher: Dispatcher;
  private subscription: Subscription | undefined;

  constructor(private readonly options: ExporterOptions) {
    const procfs = options.procfs ?? new Procfs();
    this.table = new ProcessTable({ procfs });
    const now = options.now ?? monotonicSecondNow;
    const workloads = new Workloads({
      max: options.workloads.max,
      retentionSeconds: options.workloads.retentionSeconds,
      table: this.table,
      pods: options.kubernetes,
      now,
    });
    const context: GroupContext = {
      table: this.table,
      procfs,
      parents: options.parents,
      forkbomb: options.forkbomb,
      workloads,
      cgroupRoot: options.workloads.cgroupRoot,
      version: options.version,
      logger: options.logger,
      now,
      socket: () => this.socketState(),
    };
    const groups: MetricGroupInstance[] = METRIC_GROUPS.map((group) => group(context));
    // It takes only lost, start and close: after a loss, it sets the table right from /proc.
    const reconciler = new Reconciler(this.table, procfs, { logger: options.logger });
    const listeners: Listener[] = [reconciler, ...groups.flatMap((group) => (group.listener ? [group.listener] : []))];
    this.dispatcher = new Dispatcher(this.table, listeners);
    for (const registry of eachRegistry(this.registries)) {
      for (const group of groups) group.register(registry);
    }
  }

  /** Subscribes to the kernel; resolves once the kernel confirmed it. Throws StartupError. */
  async start(onFailure: (error: Error) => void): Promise<void> {
    const { logger } = this.options;
    // In the background: until the pods are known, they are named by uid.
    this.options.kubernetes?.start();
    this.subscription = Subscription.open({ receiveBufferBytes: this.options.receiveBufferBytes, onFailure, sink: this.dispatcher, logger });
    // The socket is bound and the request sent: events queue from here on, so the
    // table seeded now misses nothing that happens meanwhile.
    this.table.seed();
    await this.subscription.confirmed();
    this.dispatcher.start();

    const granted = this.subscription.receiveBufferBytes;
    const forced = this.subscription.bufferForced;
    logger.info('subscribed to process events', {
      receive_buffer_bytes: granted,
      buffer_forced: forced,
      processes_known: this.table.size,
    });
    if (!forced) {
      logger.warn('the large receive buffer needs CAP_NET_ADMIN; without it net.core.rmem_max caps it, and a fork storm can overflow it', {
        requested_bytes: this.options.receiveBufferBytes,
        granted_bytes: granted,
      });
    }
  }

  /**
   * Feeds batches of reader records (src/kernel/records.ts) through the whole pipeline as
   * if the kernel had sent them, after seeding the table from the exporter's /proc: to
   * replay captured events, with no socket.
   */
  replay(batches: readonly Uint8Array[]): void {
    this.table.seed();
    const decoder = new BatchDecoder(this.dispatcher);
    for (const batch of batches) decoder.decode(batch);
  }

  /** Confirmed by the kernel and not closed. */
  get ready(): boolean {
    return this.subscription?.subscribed ?? false;
  }

  /** Unsubscribes from the kernel and closes the socket. */
  close(): void {
    this.options.kubernetes?.stop();
    this.dispatcher.close();
    this.subscription?.close();
  }

  private socketState(): SocketState {
    const subscription = this.subscription;
    if (!subscription) return { subscribed: false, receiveBufferBytes: 0, kernelDrops: 0 };
    return {
      subscribed: subscription.subscribed,
      receiveBufferBytes: subscription.receiveBufferBytes,
      kernelDrops: subscription.kernelDrops(),
    };
  }
}
