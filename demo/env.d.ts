/** Replaced at build time by the demo's Vite plugin (scripts/demo-server.ts): the tabwire server's port. */
declare const __TABWIRE_PORT__: number
