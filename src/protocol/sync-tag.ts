/**
 * The Background Sync tag of a namespace's outbox: what a tab registers when it goes away with messages queued, and
 * what the app's service worker (`tabwire/sw`) answers by draining that namespace.
 */
export const outboxSyncTag = (namespace: string): string => `tabwire-outbox:${namespace}`
