/**
 * What sets the bill on Workers, counted where it happens (in this isolate):
 * Durable Object requests (each link is one), WebSocket messages into the
 * objects (billed 20 to 1), alarms, and storage operations. bench/edge.mjs
 * reads them through GET /usage, served only when RELAY_EDGE_USAGE=1.
 */
export const usage = {
  objectRequests: 0,
  objectMessages: 0,
  alarms: 0,
  /** RelayObjects constructed: a first use, or a rebuild after hibernation. */
  objectStarts: 0,
  storageReads: 0,
  storageWrites: 0,
};
