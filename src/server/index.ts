/** The reference server for Node: `createServer({ port, store })`. Never imports browser code. */
export { createServer } from './server.ts'
export { createMemoryStore } from './memory-store.ts'
export type { MemoryStoreOptions } from './memory-store.ts'
export { AuthError } from './auth.ts'
export { jwtAuthenticate } from './jwt.ts'
export type { Authenticate, JwtKeySource, JwtOptions } from './jwt.ts'
export { Admission } from './admission.ts'
export type { AdmissionOptions, AdmissionVerdict } from './admission.ts'
export type { Authorize, RateLimitOptions, TopicAction, Validate } from './guard.ts'
export type { Identity, ServerOptions, TabwireServer } from './types.ts'
export type {
  PubInput,
  PubOutcome,
  ReadResult,
  Retention,
  Store,
  StoredMessage,
  TopicHead,
} from './store.ts'
