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
 * appended and deduplicated, closes by code, store latency, presence totals. `outputBytes` is read at scrape time.
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
  // Members per topic would be a label per topic: unbounded cardinality. Totals instead, from a count per topic.
  const members = new Map<string, number>()
  let memberCount = 0
  new Gauge({
    name: `${prefix}presence_members`,
    help: "Presence memberships held by this node's connections, over all topics",
    registers,
    collect() {
      this.set(memberCount)
    },
  })
  new Gauge({
    name: `${prefix}presence_topics`,
    help: "Topics in which this node's connections hold at least one presence member",
    registers,
    collect() {
      this.set(members.size)
    },
  })
  const presenceJoins = new Counter({
    name: `${prefix}presence_joins_total`,
    help: "Presence memberships this node's connections started",
    registers,
  })
  const presenceLeaves = new Counter({
    name: `${prefix}presence_leaves_total`,
    help: "Presence memberships this node's connections ended (a leave, or the connection closed)",
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
      presence(topic, joined) {
        const n = (members.get(topic) ?? 0) + (joined ? 1 : -1)
        if (n > 0) members.set(topic, n)
        else members.delete(topic)
        memberCount += joined ? 1 : -1
        if (joined) presenceJoins.inc()
        else presenceLeaves.inc()
      },
    },
  }
}
