// The data's path, end to end: kernel socket -> decoding -> accounting and attribution
// -> metrics. The HTTP side only reads what this holds.
import { EventCounts } from './accounting/event-counts.js';
import { Attribution } from './attribution/attribution.js';
import { CommCounts } from './attribution/comm-counts.js';
import { TopParents } from './attribution/top-parents.js';
import { monotonicSecondNow } from './accounting/clock.js';
import { ForkBombDetector, type ForkBombOptions } from './detect/forkbomb.js';
import { Subscription } from './kernel/subscription.js';
import type { Options } from './cli/flags.js';
import type { Logger } from './log.js';
import { registerBuildInfo } from './metrics/build-info.js';
import { registerEventMetrics } from './metrics/events.js';
import { registerForkBombMetrics } from './metrics/forkbomb.js';
import { registerNetlinkMetrics, type SocketState } from './metrics/netlink.js';
import { registerParentMetrics } from './metrics/parents.js';
import { createRegistries, eachRegistry, type Registries } from './metrics/registries.js';
import { ProcessTable } from './processes/table.js';
import { readFileSync } from 'node:fs';

export interface ExporterOptions {
  receiveBufferBytes: number;
  parentsMaxComms: number;
  parentsTop: number;
  parentsWindowSeconds: number;
  forkbomb: Omit<ForkBombOptions, 'maxComms'>;
  version: string;
  logger: Logger;
  ackTimeoutMs?: number;
}

/** The exporter's settings from the command line's. */
export function exporterOptions(options: Options, version: string, logger: Logger): ExporterOptions {
  return {
    receiveBufferBytes: options.receiveBufferBytes,
    parentsMaxComms: options.parentsMaxComms,
    parentsTop: options.parentsTop,
    parentsWindowSeconds: options.parentsWindowSeconds,
    forkbomb: {
      chainDepth: options.forkbombChainDepth,
      chainParents: options.forkbombChainParents,
      chainProcesses: options.forkbombChainProcesses,
      clearAfterSeconds: options.forkbombClearAfterSeconds,
    },
    version,
    logger,
  };
}

export class Exporter {
  readonly registries: Registries = createRegistries();
  readonly counts = new EventCounts();
  readonly table = new ProcessTable({ maxEntries: maxProcesses() });
  readonly parentComms: CommCounts;
  readonly topParents: TopParents;
  readonly detector: ForkBombDetector;
  private readonly attribution: Attribution;
  private subscription: Subscription | undefined;
  private detectorTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ExporterOptions) {
    this.parentComms = new CommCounts(options.parentsMaxComms);
    this.topParents = new TopParents({ windowSeconds: options.parentsWindowSeconds });
    this.detector = new ForkBombDetector({ ...options.forkbomb, maxComms: options.parentsMaxComms });
    this.attribution = new Attribution(this.table, this.parentComms, this.topParents, this.detector);

    for (const registry of eachRegistry(this.registries)) {
      registerEventMetrics(registry, this.counts);
      registerNetlinkMetrics(registry, () => this.socketState());
      registerParentMetrics(registry, this.parentComms, this.topParents, {
        top: options.parentsTop,
        windowSeconds: options.parentsWindowSeconds,
      });
      registerForkBombMetrics(registry, this.detector, options.forkbomb.chainDepth);
      registerBuildInfo(registry, options.version);
    }
  }

  /** Subscribes to the kernel; resolves once the kernel confirmed it. Throws StartupError. */
  async start(onFailure: (error: Error) => void): Promise<void> {
    const { logger } = this.options;
    this.subscription = Subscription.open({
      receiveBufferBytes: this.options.receiveBufferBytes,
      onFailure,
      sink: {
        event: (event) => {
          this.counts.record(event);
          this.attribution.record(event);
        },
        invalid: (reason) => {
          this.counts.recordInvalid(reason);
          // Once per reason: a privileged process can broadcast to the group without end.
          if (this.counts.invalidByReason.get(reason) === 1) logger.warn('rejected a datagram on the proc connector group', { reason });
        },
      },
    });
    // The socket is bound and the request sent: events queue from here on, so the
    // table seeded now misses nothing that happens meanwhile.
    this.table.seed();
    await this.subscription.confirmed(this.options.ackTimeoutMs);
    this.startDetector();

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

  /** Confirmed by the kernel and not closed. */
  get ready(): boolean {
    return this.subscription?.subscribed ?? false;
  }

  /** Unsubscribes from the kernel and closes the socket. */
  close(): void {
    clearInterval(this.detectorTimer);
    this.subscription?.close();
  }

  /** The detector decides once a second, whether or not anyone scrapes. */
  private startDetector(): void {
    const evaluate = (): void => {
      this.detector.evaluate(monotonicSecondNow(), this.table.deepProcesses(this.options.forkbomb.chainDepth));
    };
    evaluate();
    this.detectorTimer = setInterval(evaluate, 1000);
    this.detectorTimer.unref();
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

// Live processes have pids below pid_max, so a table that size holds them all; its cap
// matters where pid_max is large (up to 4M) and lost exit events leave entries behind.
const MAX_PROCESSES = 262_144;

function maxProcesses(): number {
  try {
    return Math.min(MAX_PROCESSES, Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()));
  } catch {
    return MAX_PROCESSES;
  }
}
