import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort, REDIS_SERVER } from './redis.ts'

const run = promisify(execFile)
const REDIS_CLI = process.env.REDIS_CLI ?? 'redis-cli'
const START_TIMEOUT_MS = 20_000
/**
 * How long a primary may be silent before its replica takes over. Low, so the failover test waits a few seconds,
 * not the 15 s Redis defaults to.
 */
const NODE_TIMEOUT_MS = 1_000

export interface ClusterNode {
  readonly port: number
  /** Kills the process at once (SIGKILL): no goodbye to the cluster, as a crashed machine. */
  kill(): void
  /** Starts the (killed) node again on its files: it rejoins, as a replica if its replica took over meanwhile. */
  restart(): Promise<void>
}

export interface RedisCluster {
  /** One primary's URL: enough for a cluster client to discover the rest. */
  readonly url: string
  readonly nodes: readonly ClusterNode[]
  /** Asks `port` (via redis-cli) and returns the reply's text. */
  cli(port: number, ...args: string[]): Promise<string>
  /** The node serving `key`'s slot as primary now. */
  primaryOf(key: string): Promise<ClusterNode>
  /** Resolves once every live node reports `cluster_state:ok` and every primary has a replica in sync. */
  healthy(): Promise<void>
  stop(): Promise<void>
}

function launch(port: number, dir: string): Promise<ChildProcess> {
  mkdirSync(dir, { recursive: true })
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes']
  args.push('--appendfsync', 'always', '--daemonize', 'no', '--loglevel', 'warning', '--cluster-enabled', 'yes')
  args.push('--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(NODE_TIMEOUT_MS))
  // The bus port is port + 10000 by default, which may be taken: a borrowed free one is given instead.
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  return new Promise((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'ENOENT' ? ' (install it: apt-get install -y redis-server, or set REDIS_SERVER)' : ''
      reject(new Error(`cannot run ${REDIS_SERVER}${hint}: ${err.message}`))
    })
    child.once('spawn', () => resolve(child))
    child.stderr.resume()
  })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Starts a Redis Cluster of three primaries, each with one replica, on free loopback ports, from Debian's
 * `redis-server`, with its files in a fresh temporary directory. Takes a second or two.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const root = mkdtempSync(join(tmpdir(), 'tabwire-redis-cluster-'))
  const ports: number[] = []
  // Redis listens on port + 10000 for the cluster bus: both must be free, so ports are drawn until they are.
  while (ports.length < 6) {
    const port = await freePort()
    if (port < 55_535 && !ports.includes(port) && (await freePort(port + 10_000).catch(() => 0))) ports.push(port)
  }
  const children = new Map<number, ChildProcess>()
  const cli = async (port: number, ...args: string[]) =>
    (await run(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args])).stdout
  const stop = async () => {
    await Promise.all(
      [...children.values()].map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGKILL')
        return exited
      }),
    )
    rmSync(root, { recursive: true, force: true })
  }
  try {
    for (const port of ports) children.set(port, await launch(port, join(root, String(port))))
    await until(async () => (await Promise.all(ports.map((p) => cli(p, 'PING').catch(() => '')))).every(isPong))
    const hosts = ports.map((p) => `127.0.0.1:${p}`)
    await run(REDIS_CLI, ['--cluster', 'create', ...hosts, '--cluster-replicas', '1', '--cluster-yes'])
  } catch (error) {
    await stop()
    throw error
  }
  const nodes = ports.map(
    (port): ClusterNode => ({
      port,
      kill: () => children.get(port)?.kill('SIGKILL'),
      async restart() {
        const child = children.get(port)
        if (child && child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((resolve) => child.once('exit', resolve))
          child.kill('SIGKILL')
          await exited
        }
        children.set(port, await launch(port, join(root, String(port))))
        await until(async () => isPong(await cli(port, 'PING').catch(() => '')))
      },
    }),
  )
  const alive = () =>
    nodes.filter((n) => {
      const child = children.get(n.port)
      return child !== undefined && child.exitCode === null && child.signalCode === null && !child.killed
    })
  const cluster: RedisCluster = {
    url: `redis://127.0.0.1:${ports[0]}`,
    nodes,
    cli,
    async primaryOf(key) {
      const live = alive()
      const slot = Number((await cli(live[0]?.port ?? 0, 'CLUSTER', 'KEYSLOT', key)).trim())
      // CLUSTER NODES: `id host:port@bus flags master ping pong epoch link from-to ...`, one line per node.
      for (const line of (await cli(live[0]?.port ?? 0, 'CLUSTER', 'NODES')).split('\n')) {
        const [, address = '', flags = '', , , , , , ...ranges] = line.trim().split(' ')
        if (!flags.includes('master') || flags.includes('fail')) continue
        const owns = ranges.some((range) => {
          const [from, to = from] = range.split('-').map(Number)
          return from !== undefined && to !== undefined && slot >= from && slot <= to
        })
        const node = nodes.find((n) => address.startsWith(`127.0.0.1:${n.port}@`))
        if (owns && node) return node
      }
      throw new Error(`no live primary serves slot ${slot}`)
    },
    async healthy() {
      await until(async () => {
        const infos = await Promise.all(alive().map((n) => cli(n.port, 'CLUSTER', 'INFO').catch(() => '')))
        const replication = await Promise.all(alive().map((n) => cli(n.port, 'INFO', 'replication').catch(() => '')))
        const primaries = replication.filter((info) => info.includes('role:master'))
        return (
          infos.every((info) => info.includes('cluster_state:ok')) &&
          primaries.length === 3 &&
          primaries.every((info) => /slave0:.*state=online/.test(info))
        )
      })
    },
    stop,
  }
  await cluster.healthy()
  return cluster
}

const isPong = (reply: string) => reply.trim() === 'PONG'

async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`redis cluster not ready in ${START_TIMEOUT_MS} ms`)
    await sleep(50)
  }
}
