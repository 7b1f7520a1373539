/**
 * Vitest browser commands: they run in the Node process, so a browser-mode test can stop, start and inspect the
 * real server its project's globalSetup started (`commands.serverStop()` etc. from `vitest/browser`).
 */
import type { BrowserCommand } from 'vitest/node'
import type { Json } from '../../src/protocol/frames.ts'
import type { ReadResult } from '../../src/server/store.ts'
import { createServer } from '../../src/server/index.ts'
import type { ClientFrameType } from './frame-tap.ts'
import { registerServer, serverFor } from './server-registry.ts'
import { startProxy, type TcpProxy } from './tcp-proxy.ts'

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

/** The frame-counting proxy of each project (at most one: a project's test files run one after another). */
const taps = new Map<string, TcpProxy>()

/**
 * Puts a new proxy in front of the server that counts the frames clients send through it, and resolves to its port:
 * a test that claims a mechanism ("replayed from the local log") connects there and counts the frames on the wire.
 */
const serverTapStart: BrowserCommand<[]> = async ({ project }) => {
  await taps.get(project.name)?.close()
  const proxy = await startProxy(serverFor(project.name).port)
  taps.set(project.name, proxy)
  return proxy.port
}

/** Frames the clients sent through the tap since it started, by type. */
const serverTapFrames: BrowserCommand<[]> = ({ project }): Partial<Record<ClientFrameType, number>> => {
  const proxy = taps.get(project.name)
  if (!proxy) throw new Error('serverTapFrames: no tap; call serverTapStart first')
  return proxy.framesUp.snapshot()
}

/** WebSocket messages the clients sent through the tap since it started, by the frame types each carried. */
const serverTapMessages: BrowserCommand<[]> = ({ project }): Partial<Record<ClientFrameType, number>> => {
  const proxy = taps.get(project.name)
  if (!proxy) throw new Error('serverTapMessages: no tap; call serverTapStart first')
  return proxy.framesUp.messageSnapshot()
}

/** The topics of each `hello` clients sent through the tap since it started, in order. */
const serverTapHellos: BrowserCommand<[]> = ({ project }): string[][] => {
  const proxy = taps.get(project.name)
  if (!proxy) throw new Error('serverTapHellos: no tap; call serverTapStart first')
  return proxy.framesUp.helloTopics
}

/** Closes the tap and the connections through it. */
const serverTapStop: BrowserCommand<[]> = async ({ project }) => {
  await taps.get(project.name)?.close()
  taps.delete(project.name)
}

export const serverCommands = {
  serverTapStart,
  serverTapFrames,
  serverTapMessages,
  serverTapHellos,
  serverTapStop,
  serverStop,
  serverStart,
  serverPublish,
  serverPublishBytes,
  serverConnections,
  serverRead,
  serverReadBodies,
  serverForget,
}
