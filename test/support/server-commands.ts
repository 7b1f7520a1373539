/**
 * Vitest browser commands: they run in the Node process, so a browser-mode test can stop, start and inspect the
 * real server its project's globalSetup started (`commands.serverStop()` etc. from `vitest/browser`).
 */
import type { BrowserCommand } from 'vitest/node'
import type { Json } from '../../src/protocol/frames.ts'
import type { ReadResult } from '../../src/server/store.ts'
import { serverFor } from './server-registry.ts'

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

const serverConnections: BrowserCommand<[]> = ({ project }) => serverFor(project.name).connections()

/** The whole log of a topic: what the server received, in seq order. */
const serverRead: BrowserCommand<[topic: string]> = async ({ project }, topic): Promise<ReadResult> =>
  serverFor(project.name).store.read(topic, 0, 10_000)

export const serverCommands = { serverStop, serverStart, serverPublish, serverConnections, serverRead }
