import type { PresenceKey, PresenceMember } from './presence-frames.ts'

/**
 * What the worker tells a tab's presence handle: `sync`, the full list (on join and after every reconnect: it
 * replaces whatever the tab held), `diff`, the changes since, or `denied` (the server's `authorize` refused the topic;
 * nothing follows).
 */
export type PresenceEvent =
  | { kind: 'sync'; members: PresenceMember[] }
  | { kind: 'diff'; joined: PresenceMember[]; left: PresenceKey[]; updated: PresenceMember[] }
  | { kind: 'denied' }

/** The state a tab hands the worker: JSON text, checked for encoding and size by the tab. */
export type PresenceStateText = string
