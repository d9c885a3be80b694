import { END_REASONS, type EndReason } from '../core/sessions.js';

/**
 * Messages between instances, each on the receiving instance's own channel.
 * `l` names one link: a session member or a bootstrap init that lives on one
 * instance and is served by another. Every message carries its sender (`i`).
 */
export type WireBody =
  // sessions: controller's instance → owner (the target's instance), and back
  | { t: 'join'; l: string; h: string }
  | { t: 'found'; l: string }
  | { t: 'fail'; l: string; e: 'otc_not_found' | 'peer_already_connected' }
  // either way, once joined
  | { t: 'data'; l: string; f: string }
  | { t: 'end'; l: string; r: EndReason }
  // bootstrap: an init presented on one instance, its watcher on another
  | { t: 'binit'; l: string; h: string; k: string; p: string }
  | { t: 'banswer'; l: string; f: string }
  | { t: 'bgone'; l: string }
  // an instance's ping to itself: proves its channel delivers
  | { t: 'ping'; n: number };

export type Wire = WireBody & { i: string };

const MAX_ID = 64;
const MAX_FIELD = 16 * 1024 * 1024;
const FAILS = new Set(['otc_not_found', 'peer_already_connected']);
const REASONS = new Set<string>(END_REASONS);

const id = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_ID;
const text = (v: unknown): v is string => typeof v === 'string' && v.length <= MAX_FIELD;
const key = (v: unknown): v is string => typeof v === 'string' && v.length <= 256;

/**
 * Checks what arrives before anything acts on it: the channel is shared
 * infrastructure, and a malformed message must be dropped, not half-handled.
 */
export function parseWire(raw: string): Wire | undefined {
  let m: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
    m = parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (!id(m['i'])) return undefined;
  if (m['t'] === 'ping') return Number.isSafeInteger(m['n']) ? (m as Wire) : undefined;
  if (!id(m['l'])) return undefined;
  switch (m['t']) {
    case 'found':
    case 'bgone':
      return m as Wire;
    case 'join':
      return key(m['h']) ? (m as Wire) : undefined;
    case 'fail':
      return FAILS.has(m['e'] as string) ? (m as Wire) : undefined;
    case 'data':
    case 'banswer':
      return text(m['f']) ? (m as Wire) : undefined;
    case 'end':
      return REASONS.has(m['r'] as string) ? (m as Wire) : undefined;
    case 'binit':
      return key(m['h']) && text(m['k']) && text(m['p']) ? (m as Wire) : undefined;
    default:
      return undefined;
  }
}

export function encodeWire(sender: string, body: WireBody): string {
  return JSON.stringify({ i: sender, ...body });
}
