/**
 * `npm run bench:server:deflate`: what `perMessageDeflate` costs and saves on the server, off against on.
 *
 * Per body size (~200 B and ~2 KB chat JSON, bench/lib/chat-bodies.ts) and mode, a fresh `tabwire-server` child
 * (memory store), `--clients` subscribers of one topic and one publisher, every socket a `ws` client offering
 * permessage-deflate as browsers do. The publisher sends `--messages` pubs, one per WebSocket message, `--rate` per
 * second (chat arrives one message at a time; a burst would be batched and compress better than chat does).
 *
 *   bytes   TCP bytes each socket carried during the fan-out (the clients' sockets' `bytesRead`, the publisher's
 *           `bytesWritten`): WebSocket headers and compressed payloads, what a network bill counts
 *   CPU     the server child's utime + stime from the first pub to the last delivery (all threads: zlib runs on
 *           libuv's pool)
 *   RSS     the child's RSS per connection: after the hellos (idle), and 2 s after the fan-out (each socket that
 *           was sent a compressed message keeps its zlib streams)
 *
 *   --clients N  --messages M  --rate R  --rounds K (off/on alternate K times; the table gives medians)  --md
 */
import os from 'node:os'
import type { Socket } from 'node:net'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { chatBodies } from './lib/chat-bodies.ts'
import { writeBenchmarksSection } from './lib/md-section.ts'
import { cpuSeconds, type LoadNode, rssBytes, sleep, startNodeProcess } from './lib/load.ts'
import { median } from './lib/stats.ts'

const { values: flags } = parseArgs({
  options: {
    clients: { type: 'string', default: '200' },
    messages: { type: 'string', default: '200' },
    rate: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    md: { type: 'boolean', default: false },
  },
})
const CLIENTS = Number(flags.clients)
const MESSAGES = Number(flags.messages)
const RATE = Number(flags.rate)
const ROUNDS = Number(flags.rounds)
const SIZES = [200, 2000] as const
const TOPIC = 'room:general'
const HEADING = 'Server: per-message deflate'
const CONNECT_CONCURRENCY = 50

interface Peer {
  ws: WebSocket
  socket: Socket
  /** `msg` frames received and their payload bytes after inflating (what the protocol sent, uncompressed). */
  delivered: number
  payloadBytes: number
  negotiated: boolean
}

function connect(url: string, client: string, subscribe: boolean): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: true })
    ws.once('error', reject)
    ws.once('open', () =>
      ws.send(JSON.stringify({ t: 'hello', v: 1, client, subs: subscribe ? [{ topic: TOPIC, after: 0 }] : [] })),
    )
    // 'upgrade' comes before 'open', so the peer and its TCP socket exist before the first message.
    ws.once('upgrade', (res) => {
      const peer: Peer = { ws, socket: res.socket as Socket, delivered: 0, payloadBytes: 0, negotiated: false }
      let welcomed = false
      ws.on('message', (data: Buffer) => {
        const text = data.toString()
        if (!welcomed) {
          welcomed = text.includes('"welcome"')
          peer.negotiated = ws.extensions.includes('permessage-deflate')
          if (welcomed) resolve(peer)
          return
        }
        const count = text.split('"t":"msg"').length - 1
        peer.delivered += count
        if (count > 0) peer.payloadBytes += data.byteLength
      })
    })
  })
}

async function connectMany(url: string, count: number): Promise<Peer[]> {
  const peers: Peer[] = []
  let next = 0
  const worker = async () => {
    while (next < count) peers.push(await connect(url, `sub-${next++}`, true))
  }
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker))
  return peers
}

interface Run {
  deflate: boolean
  size: number
  negotiated: number
  bodyBytes: number
  /** Server → subscribers, TCP bytes per delivery; WebSocket payload bytes per delivery before compression. */
  wirePerDelivery: number
  payloadPerDelivery: number
  /** Publisher → server, TCP bytes per pub. */
  wirePerPub: number
  cpuMs: number
  seconds: number
  rssIdlePerConn: number
  rssAfterPerConn: number
}

async function run(deflate: boolean, size: number): Promise<Run> {
  const server: LoadNode = await startNodeProcess('src/server/cli.ts', [
    '--port',
    '0',
    '--store',
    'memory',
    ...(deflate ? ['--per-message-deflate'] : []),
  ])
  try {
    await sleep(1_000)
    const rssBase = rssBytes(server.pid)
    const subs = await connectMany(server.url, CLIENTS)
    const publisher = await connect(server.url, 'publisher', false)
    await sleep(2_000)
    const rssIdle = rssBytes(server.pid)
    const bodies = chatBodies(MESSAGES, size)
    const readBefore = subs.map((p) => p.socket.bytesRead)
    const writtenBefore = publisher.socket.bytesWritten
    const cpuBefore = cpuSeconds(server.pid)
    const started = performance.now()
    for (let i = 0; i < MESSAGES; i++) {
      publisher.ws.send(JSON.stringify({ t: 'pub', id: i + 1, topic: TOPIC, body: bodies[i] }))
      await sleep(1_000 / RATE)
    }
    while (subs.some((p) => p.delivered < MESSAGES)) await sleep(20)
    const cpuMs = (cpuSeconds(server.pid) - cpuBefore) * 1_000
    const seconds = (performance.now() - started) / 1_000
    const wire = subs.reduce((sum, p, i) => sum + p.socket.bytesRead - (readBefore[i] as number), 0)
    const payload = subs.reduce((sum, p) => sum + p.payloadBytes, 0)
    await sleep(2_000)
    const rssAfter = rssBytes(server.pid)
    const deliveries = CLIENTS * MESSAGES
    for (const p of [...subs, publisher]) p.ws.close()
    return {
      deflate,
      size,
      negotiated: subs.filter((p) => p.negotiated).length,
      bodyBytes: bodies.reduce((sum, b) => sum + JSON.stringify(b).length, 0) / MESSAGES,
      wirePerDelivery: wire / deliveries,
      payloadPerDelivery: payload / deliveries,
      wirePerPub: (publisher.socket.bytesWritten - writtenBefore) / MESSAGES,
      cpuMs,
      seconds,
      rssIdlePerConn: (rssIdle - rssBase) / (CLIENTS + 1),
      rssAfterPerConn: (rssAfter - rssBase) / (CLIENTS + 1),
    }
  } finally {
    await server.stop()
  }
}

const load = () => os.loadavg()[0]?.toFixed(1) ?? '?'
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`
const loadStart = load()
const runs: Run[] = []
for (let round = 0; round < ROUNDS; round++)
  for (const size of SIZES)
    for (const deflate of [false, true]) {
      const r = await run(deflate, size)
      runs.push(r)
      console.log(
        `round ${round + 1} ${size} B deflate ${deflate ? 'on ' : 'off'}: ${r.wirePerDelivery.toFixed(0)} B/delivery on the wire (${r.payloadPerDelivery.toFixed(0)} B payload), pub ${r.wirePerPub.toFixed(0)} B, CPU ${r.cpuMs.toFixed(0)} ms in ${r.seconds.toFixed(1)} s, RSS/conn ${kb(r.rssIdlePerConn)} idle, ${kb(r.rssAfterPerConn)} after; ${r.negotiated}/${CLIENTS} negotiated; load ${load()}`,
      )
    }
const loadEnd = load()

interface Figures {
  bodyBytes: number
  wire: number
  pub: number
  cpuMs: number
  rounds: string
  rssIdle: number
  rssAfter: number
}

function figures(size: number, deflate: boolean): Figures {
  const of = runs.filter((r) => r.size === size && r.deflate === deflate)
  const m = (pick: (r: Run) => number) => median(of.map(pick))
  return {
    bodyBytes: m((r) => r.bodyBytes),
    wire: m((r) => r.wirePerDelivery),
    pub: m((r) => r.wirePerPub),
    cpuMs: m((r) => r.cpuMs),
    rounds: of.map((r) => r.cpuMs.toFixed(0)).join(', '),
    rssIdle: m((r) => r.rssIdlePerConn),
    rssAfter: m((r) => r.rssAfterPerConn),
  }
}

const DELIVERIES = CLIENTS * MESSAGES
function row(size: number, deflate: boolean): string {
  const f = figures(size, deflate)
  const perK = f.cpuMs / (DELIVERIES / 1_000)
  return `| ~${size} B (${f.bodyBytes.toFixed(0)} B JSON) | ${deflate ? 'on' : 'off'} | ${f.wire.toFixed(0)} B | ${f.pub.toFixed(0)} B | ${f.cpuMs.toFixed(0)} ms (${perK.toFixed(1)} ms per 1000) | ${f.rounds} ms | ${kb(f.rssIdle)} | ${kb(f.rssAfter)} |`
}

/** One size, off against on, in words: the bytes saved against the CPU it took. */
function verdict(size: number): string {
  const off = figures(size, false)
  const on = figures(size, true)
  const saved = 1 - on.wire / off.wire
  const extraUs = ((on.cpuMs - off.cpuMs) * 1_000) / DELIVERIES
  return `~${size} B bodies: ${Math.round(saved * 100)} % fewer bytes to each subscriber (${off.wire.toFixed(0)} → ${on.wire.toFixed(0)} B per delivery), the publisher's pubs ${off.pub.toFixed(0)} → ${on.pub.toFixed(0)} B, for ${(on.cpuMs / off.cpuMs).toFixed(1)}× the server's CPU (${extraUs.toFixed(0)} µs more per delivery); RSS per idle connection ${kb(off.rssIdle)} → ${kb(on.rssIdle)}`
}

const table = [
  '| body | deflate | server → subscriber, TCP bytes per delivery | publisher → server, per pub | server CPU for the fan-out (median) | each round | RSS per connection, idle | after the fan-out |',
  '|---|---|---|---|---|---|---|---|',
  ...SIZES.flatMap((size) => [row(size, false), row(size, true)]),
].join('\n')
const verdicts = SIZES.map((size) => `- ${verdict(size)}.`).join('\n')
console.log(
  `\n${table}\n\n${verdicts}\n\nload average ${loadStart} at start, ${loadEnd} at the end (${os.cpus().length} cores)`,
)

if (flags.md) {
  const when = new Date().toISOString().slice(0, 16)
  writeBenchmarksSection(
    HEADING,
    `## ${HEADING}

\`npm run bench:server:deflate -- --md\` (bench/server-deflate.ts): the server's \`perMessageDeflate\` off against on
(threshold 1 KiB, no server context takeover, window 11, zlib level 1; see docs/server.md). Per body size and mode, a
fresh \`tabwire-server\` child (memory store), ${CLIENTS} subscribers of one topic and one publisher, every socket a \`ws\`
client offering permessage-deflate as browsers do. The publisher sends ${MESSAGES} JSON chat bodies (ids, user,
timestamp, prose from a vocabulary: bench/lib/chat-bodies.ts, seeded) of ~200 B and ~2 KB, one pub per WebSocket
message at ${RATE}/s, as chat arrives (a burst would be batched and compress better than chat does). Bytes: the TCP
bytes of every subscriber's socket (\`bytesRead\`) and of the publisher's (\`bytesWritten\`) during the fan-out:
WebSocket headers and compressed payloads, what a network bill counts. CPU: the server child's utime + stime from
the first pub to the last delivery (all its threads: zlib runs on libuv's pool). RSS per connection: the child's RSS
after the hellos (idle) and 2 s after the fan-out (a high-water mark: garbage not yet collected counts) less its RSS
before the first connection. ${ROUNDS} rounds, off and on alternating; the table gives medians.

Run: ${when}, ${os.cpus().length} cores, load average ${loadStart} at start and ${loadEnd} at the end (other work on the
machine); server, clients and publisher on the same cores. ${DELIVERIES} deliveries per row.

${table}

What this run says:
${verdicts}

Conclusion: \`perMessageDeflate\` stays off by default. For ~2 KB chat messages it buys about half the bytes with
several times the server's CPU for the fan-out: ws compresses once per subscriber (no shared compression across
sockets), so the cost grows with the fan-out, while the saving is bandwidth: worth it where egress is billed or links
are slow, not where the server's cores are the limit. Below the 1 KiB threshold (most chat, acks, pongs) nothing leaves compressed, yet every
connection whose client compresses (ws and browsers compress every message) makes the server keep an inflate
stream, so the idle connection costs more. Turn it on where bytes cost more than CPU: large repetitive bodies,
metered or slow links. Not measured here: context takeover (better ratios on small messages, but ws then ignores the
threshold and compresses every frame), other windows and levels, and browsers as clients.
`,
  )
}
