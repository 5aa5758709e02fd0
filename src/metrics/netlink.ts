// The socket's own state, read from the kernel at scrape time.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { MetricGroup } from './group.js';

export const netlinkMetrics: MetricGroup = ({ socket }) => ({
  register(registry: Registry) {
    const registers = [registry];

    new Counter({
      name: 'forkwatch_netlink_drops_total',
      help: "The kernel's own count of messages dropped on this socket because its receive buffer was full (SO_MEMINFO).",
      registers,
      collect() {
        this.reset();
        this.inc(socket().kernelDrops);
      },
    });

    new Gauge({
      name: 'forkwatch_netlink_receive_buffer_bytes',
      help: 'The receive buffer the kernel granted the socket, as SO_RCVBUF reports it (Linux doubles the request for bookkeeping).',
      registers,
      collect() {
        this.set(socket().receiveBufferBytes);
      },
    });

    new Gauge({
      name: 'forkwatch_subscribed',
      help: 'Whether the kernel has confirmed the subscription to process events (1) or not (0).',
      registers,
      collect() {
        this.set(socket().subscribed ? 1 : 0);
      },
    });
  },
});
