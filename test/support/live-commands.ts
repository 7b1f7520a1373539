/**
 * Browser commands for the live-traffic tests (requests, volatile sends): request handlers on the project's real
 * server, one behaviour per topic, registered from the page (handlers stay across `serverStop`/`serverStart`).
 */
import type { BrowserCommand } from 'vitest/node'
import type { Json } from '../../src/protocol/frames.ts'
import type { RequestHandler } from '../../src/server/index.ts'
import { serverFor } from './server-registry.ts'

export type HandlerKind = 'echo' | 'throw' | 'hang' | 'who'

const handlers: Record<HandlerKind, RequestHandler> = {
  echo: ({ body }) => ({ echo: body as Json }),
  throw: ({ body }) => {
    throw new Error(`refused ${JSON.stringify(body)}`)
  },
  hang: () => new Promise(() => undefined),
  who: ({ client, body }) => ({ client, body: body as Json }),
}

/** Registers `kind` as the handler of `topic`. */
const serverHandle: BrowserCommand<[topic: string, kind: HandlerKind]> = ({ project }, topic, kind) => {
  serverFor(project.name).handle(topic, handlers[kind])
}

export const liveCommands = { serverHandle }
