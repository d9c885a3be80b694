import { pino } from 'pino';
import { resolveOptions, type RelayOptions } from '../../src/config/options.js';
import { memoryBackends, type Backends } from '../../src/core/backends.js';
import type { Client } from '../../src/core/client.js';
import { SYSTEM_CLOCK } from '../../src/core/clock.js';
import { Relay } from '../../src/core/relay.js';
import type { SocketKind } from '../../src/core/socket.js';
import { NO_EVENTS } from '../../src/observe/events.js';
import { warningsFor } from '../../src/observe/warnings.js';

/**
 * A socket kept in memory: the core's SocketKind seam is what a transport
 * implements, so this is a transport (a third one), not a stand-in for ws.
 * It keeps only the last frame, so it adds next to nothing per socket. Like
 * Bun's, it cannot stop reading.
 */
export interface MemorySocket {
  open: boolean;
  last: string;
  /** The close code the relay sent, once it closed the socket. */
  closedWith: number | null;
  heard: (() => void) | null;
}

const MEMORY_KIND: SocketKind<MemorySocket> = {
  isOpen: (s) => s.open,
  send: (s, frame) => {
    s.last = typeof frame === 'string' ? frame : frame.toString();
    const heard = s.heard;
    s.heard = null;
    heard?.();
  },
  bufferedAmount: () => 0,
  close: (s, code) => {
    s.open = false;
    s.closedWith = code;
  },
  terminate: (s) => {
    s.open = false;
  },
  ping: () => undefined,
  pause: () => false,
  resume: () => undefined,
};

const relays: Relay[] = [];

/** The core alone, on memory sockets and the system clock; `backends` may replace memory stores. */
export function memoryRelay(options: RelayOptions = {}, backends: Partial<Backends> = {}): Relay {
  const opts = resolveOptions({ logLevel: 'silent', ...options });
  const log = pino({ level: 'silent' });
  const relay = new Relay({
    opts,
    log,
    events: NO_EVENTS,
    warnings: warningsFor(opts, log, NO_EVENTS),
    backends: { ...memoryBackends(opts), ...backends },
    sockets: MEMORY_KIND as SocketKind<unknown>,
    clock: SYSTEM_CLOCK,
  });
  relays.push(relay);
  return relay;
}

/** For afterEach: every relay memoryRelay() made, disposed. */
export async function disposeMemoryRelays(): Promise<void> {
  await Promise.all(relays.splice(0).map((r) => r.dispose()));
}

export interface MemoryPeer {
  client: Client;
  socket: MemorySocket;
}

export function connect(relay: Relay, key: string): MemoryPeer {
  const socket: MemorySocket = { open: true, last: '', closedWith: null, heard: null };
  return { client: relay.attach(socket, key), socket };
}

/** Sends a frame and waits for the relay's answer. */
export function ask(peer: MemoryPeer, frame: object): Promise<string> {
  return new Promise((resolve) => {
    peer.socket.heard = () => resolve(peer.socket.last);
    peer.client.frame(JSON.stringify(frame));
  });
}
