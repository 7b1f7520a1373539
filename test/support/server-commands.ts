/**
 * Vitest browser commands: they run in the Node process, so a browser-mode test can stop, start and inspect the
 * real server its project's globalSetup started (`commands.serverStop()` etc. from `vitest/browser`).
 */
import type { BrowserCommand } from 'vitest/node'
import type { Json } from '../../src/protocol/frames.ts'
import type { ReadResult } from '../../src/server/store.ts'
import { createServer } from '../../src/server/index.ts'
import { registerServer, serverFor } from './server-registry.ts'

const serverStop: BrowserCommand<[]> = async ({ project }) => {
  await serverFor(project.name).stop()
}

const serverStart: BrowserCommand<[]> = async ({ project }) => {
  await serverFor(project.name).start()
}

const serverPublish: BrowserCommand<[topic: string, body: Json]> = async ({ project }, topic, body) => {
  const msg = await serverFor(project.name).publish(topic, body)
  return msg.seq
}

/** A binary body, handed over as a list of byte values (commands travel as JSON). */
const serverPublishBytes: BrowserCommand<[topic: string, bytes: number[]]> = async ({ project }, topic, bytes) => {
  const msg = await serverFor(project.name).publish(topic, new Uint8Array(bytes))
  return msg.seq
}

/** A topic's log with binary bodies as byte lists and JSON bodies as they are, for exact comparison in the page. */
const serverReadBodies: BrowserCommand<[topic: string]> = async ({ project }, topic) => {
  const { msgs } = await serverFor(project.name).store.read(topic, 0, 10_000)
  return msgs.map((m) => (m.body instanceof Uint8Array ? { bytes: [...m.body] } : { json: m.body }))
}

const serverConnections: BrowserCommand<[]> = ({ project }) => serverFor(project.name).connections()

/** The whole log of a topic: what the server received, in seq order. */
const serverRead: BrowserCommand<[topic: string]> = async ({ project }, topic): Promise<ReadResult> =>
  serverFor(project.name).store.read(topic, 0, 10_000)

/**
 * A server that lost all its state: the old one closes (1012) and a new one with an empty memory store listens on
 * the same port, as after a restart of a server whose store was not durable.
 */
const serverForget: BrowserCommand<[]> = async ({ project }) => {
  const old = serverFor(project.name)
  await old.close()
  registerServer(project.name, await createServer({ port: old.port }))
}

export const serverCommands = {
  serverStop,
  serverStart,
  serverPublish,
  serverPublishBytes,
  serverConnections,
  serverRead,
  serverReadBodies,
  serverForget,
}
