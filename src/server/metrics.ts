import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Observer } from './observer.ts'

/** `MetricsOptions`' defaults. */
export const METRICS_PATH = '/metrics'
export const METRICS_PREFIX = 'tabwire_'

/** Prometheus series of one server, in a registry of their own (apps with their own registry can merge it). */
export interface ServerMetrics {
  readonly registry: Registry
  readonly observer: Observer
}

/**
 * The server's Prometheus series (`prefix` defaults to `tabwire_`): connections, frames and bytes each way, pubs
 * appended and deduplicated, closes by code, store latency. `outputBytes` is read at scrape time.
 */
export function createMetrics(prefix: string, outputBytes: () => number): ServerMetrics {
  const registry = new Registry()
  const registers = [registry]
  const connections = new Gauge({
    name: `${prefix}connections`,
    help: 'Open WebSocket connections',
    registers,
  })
  const framesIn = new Counter({
    name: `${prefix}frames_received_total`,
    help: 'Frames received from clients, by type',
    labelNames: ['type'],
    registers,
  })
  const framesOut = new Counter({
    name: `${prefix}frames_sent_total`,
    help: 'Frames queued for clients, by type (acks and pongs that coalesced count once each)',
    labelNames: ['type'],
    registers,
  })
  const bytesIn = new Counter({
    name: `${prefix}received_bytes_total`,
    help: 'WebSocket message bytes received',
    registers,
  })
  const bytesOut = new Counter({ name: `${prefix}sent_bytes_total`, help: 'WebSocket message bytes sent', registers })
  const pubs = new Counter({
    name: `${prefix}pubs_total`,
    help: 'Client pubs by outcome: published (appended) or duplicate (a resend the store had already accepted)',
    labelNames: ['outcome'],
    registers,
  })
  const closes = new Counter({
    name: `${prefix}closes_total`,
    help: 'Connections this server closed, by close code (4429: admission or rate limit)',
    labelNames: ['code'],
    registers,
  })
  const store = new Histogram({
    name: `${prefix}store_seconds`,
    help: 'Store call latency, by operation',
    labelNames: ['op'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers,
  })
  new Gauge({
    name: `${prefix}output_bytes`,
    help: 'Bytes waiting to be sent, summed over connections',
    registers,
    collect() {
      this.set(outputBytes())
    },
  })
  return {
    registry,
    observer: {
      connections: (delta) => connections.inc(delta),
      received: (bytes) => bytesIn.inc(bytes),
      frameIn: (type) => framesIn.inc({ type }),
      frameOut: (type) => framesOut.inc({ type }),
      sent: (data) => bytesOut.inc(typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength),
      pubs(published, duplicates) {
        if (published > 0) pubs.inc({ outcome: 'published' }, published)
        if (duplicates > 0) pubs.inc({ outcome: 'duplicate' }, duplicates)
      },
      closed: (code) => closes.inc({ code: String(code) }),
      store: (op, seconds) => store.observe({ op }, seconds),
    },
  }
}
