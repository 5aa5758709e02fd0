// The exporter's settings from the command line's: the exporter never sees the flags.
import type { ExporterOptions } from '../exporter.js';
import type { Logger } from '../log.js';
import type { Options } from './flags.js';

export function exporterOptions(options: Options, version: string, logger: Logger): ExporterOptions {
  return {
    receiveBufferBytes: options.receiveBufferBytes,
    parents: {
      maxComms: options.parentsMaxComms,
      top: options.parentsTop,
      windowSeconds: options.parentsWindowSeconds,
    },
    forkbomb: {
      chainDepth: options.forkbombChainDepth,
      chainParents: options.forkbombChainParents,
      chainProcesses: options.forkbombChainProcesses,
      clearAfterSeconds: options.forkbombClearAfterSeconds,
    },
    workloads: {
      max: options.workloadsMax,
      retentionSeconds: options.workloadsRetentionSeconds,
      cgroupRoot: options.cgroupfsPath,
    },
    version,
    logger,
  };
}
