/** The reference server for Node: `createServer({ port, store })`. Never imports browser code. */
export { createServer } from './server.ts'
export { createMemoryStore } from './memory-store.ts'
export type { MemoryStoreOptions } from './memory-store.ts'
export { AuthError } from './auth.ts'
export { createMemoryPresence } from './presence.ts'
export type { HeldMember, PresenceChange, PresenceRegistry } from './presence.ts'
export type { PresenceKey, PresenceMember } from '../protocol/presence-frames.ts'
export { jwtAuthenticate } from './jwt.ts'
export type { Authenticate, JwtKeySource, JwtOptions } from './jwt.ts'
export { Admission } from './admission.ts'
export type { AdmissionOptions, AdmissionVerdict } from './admission.ts'
export type { Authorize, RateLimitOptions, TopicAction, Validate } from './guard.ts'
export type { DisconnectOptions, Identity, ServerOptions, TabwireServer } from './types.ts'
export type { RequestContext, RequestHandler } from './requests.ts'
export type { VolatileMessage, VolatileRelay } from './volatile-relay.ts'
export type {
  PubInput,
  PubOutcome,
  ReadResult,
  Retention,
  Store,
  StoredMessage,
  TopicHead,
} from './store.ts'
