import { Buffer } from 'node:buffer';
import type { ResolvedOptions } from '../config/options.js';
import { ERROR_CODES, errorFrame, type ErrorCode } from '../protocol/errors.js';
import { isPlainDataText } from '../protocol/fast-data.js';
import { parseFrame } from '../protocol/parse.js';
import type { EdgeEnv } from './env.js';
import { ACK_FRAME, PEER_FOUND_FRAME } from '../protocol/messages.js';
import {
  BOUNCE_PREFIX,
  CODE_PREFIX,
  ERROR_PREFIX,
  JTI_PREFIX,
  Link,
  RELEASE_FRAME,
  RELEASED_ACK,
} from './link.js';
import { OPEN, type EdgeSocket } from './workers-api.js';

const decoder = new TextDecoder();

/** Client sockets in this isolate, and sessions whose target is one of them: /health's counts. */
export const live = { sockets: 0, sessions: 0 };

const RATE_LIMITED = errorFrame('rate_limited');
// An address an object answered rate_limited is answered so here, for a
// while, without a link: each guess would otherwise start the guessed
// code's object and ask the address's budget object, Durable Object work
// (billed) an attacker could make at will. At most this long past the
// budget's own window end, and it only ever refuses an address the budget
// refused; one isolate's table, bounded.
const LIMITED_FOR_MS = 10_000;
const MAX_LIMITED = 10_000;
const limitedUntil = new Map<string, number>();

function noteLimited(key: string, windowMs: number): void {
  limitedUntil.delete(key);
  if (limitedUntil.size >= MAX_LIMITED)
    limitedUntil.delete(limitedUntil.keys().next().value as string);
  limitedUntil.set(key, Date.now() + Math.min(windowMs, LIMITED_FOR_MS));
}

function isLimited(key: string): boolean {
  const until = limitedUntil.get(key);
  if (until === undefined) return false;
  if (until > Date.now()) return true;
  limitedUntil.delete(key);
  return false;
}

/**
 * One client's socket, accepted by the Worker. The code or jti is in the
 * first frame, not the URL, so the Worker reads each frame with the shared
 * parser and sends it down the link to the object it names: the session
 * link (listen, connect, data, done), one link per watched jti, and one for
 * a pending bootstrap_init. An object that is done with the socket releases
 * its link, and the next listen/connect goes wherever it names.
 */
export class EdgeClient {
  private session: Link | null = null;
  private readonly watches = new Map<string, Link>();
  private init: Link | null = null;
  private idle: ReturnType<typeof setTimeout> | null = null;
  /** Since when it has held nothing: the idle deadline is this plus idleTimeoutMs. */
  private idleSince = Date.now();
  /** Links its object has confirmed: a session, a watch, an init a watcher answered. */
  private readonly holding = new Set<Link>();
  private gone = false;
  /** Its session link holds a session as its target. */
  private isTarget = false;

  constructor(
    private readonly socket: EdgeSocket,
    private readonly key: string,
    private readonly env: EdgeEnv,
    private readonly opts: ResolvedOptions,
  ) {
    live.sockets++;
    // Binary frames as bytes, decoded at once as on the server (not as a Blob, read later).
    socket.binaryType = 'arraybuffer';
    socket.addEventListener('message', (event) => this.frame(event.data));
    socket.addEventListener('close', () => this.close());
    socket.addEventListener('error', () => this.close());
    this.roleChanged();
  }

  private frame(data: string | ArrayBuffer): void {
    if (this.gone) return;
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    if (bytes > this.opts.maxFrameBytes) return this.closeClient(1009, 'Max payload size exceeded');
    this.route(typeof data === 'string' ? data : decoder.decode(data));
  }

  /** One frame of the client's (or one an object bounced back), to where it belongs. */
  private route(text: string, bounced = false): void {
    // A plain data frame (the hot path) goes on as it is, unparsed.
    if (isPlainDataText(text)) return this.session?.send(text);
    // Only a bounced frame may be one the Worker already judged: a client's is parsed.
    const judged = bounced && text.startsWith(ERROR_PREFIX) ? errorOf(text) : undefined;
    const msg = judged ?? parseFrame(text, this.opts);
    if (typeof msg === 'string' || msg.type === 'data' || msg.type === 'done') {
      // Frames that name no object go where this socket's last step went,
      // so that answers keep the order of the frames; with nowhere to go, a
      // bad frame is answered here, and data or done without a session are
      // dropped, as on the server.
      const link = this.session ?? this.init ?? this.watches.values().next().value;
      if (link !== undefined) return link.send(typeof msg === 'string' ? ERROR_PREFIX + msg : text);
      if (typeof msg === 'string') this.reply(errorFrame(msg));
      return;
    }
    switch (msg.type) {
      case 'listen':
      case 'connect':
        if (this.session === null && isLimited(this.key)) return this.reply(RATE_LIMITED);
        // A socket in a session asks its own object, which answers otc_in_use.
        this.session ??= this.link(CODE_PREFIX + msg.otc);
        return this.session.send(text);
      case 'bootstrap_watch': {
        let watch = this.watches.get(msg.jti);
        if (watch === undefined) {
          watch = this.link(JTI_PREFIX + msg.jti);
          this.watches.set(msg.jti, watch);
        }
        return watch.send(text);
      }
      case 'bootstrap_init':
        // One init waits per socket: a newer one replaces the older.
        if (this.init !== null && this.init.name !== JTI_PREFIX + msg.jti) this.drop(this.init);
        this.init ??= this.link(JTI_PREFIX + msg.jti);
        return this.init.send(text);
      case 'bootstrap_ack':
      case 'bootstrap_reject': {
        const watch = this.watches.get(msg.jti);
        if (watch === undefined) return this.reply(errorFrame('invalid_jti'));
        return watch.send(text);
      }
    }
  }

  private link(name: string): Link {
    const link: Link = new Link(
      name,
      this.env.RELAY,
      this.key,
      (frame) => this.fromObject(link, frame),
      (code, reason) => this.linkEnded(link, code, reason),
      this.opts.maxBufferedBytes,
    );
    return link;
  }

  private fromObject(link: Link, frame: string | ArrayBuffer): void {
    if (typeof frame === 'string' && frame.charCodeAt(0) === 0x7e) {
      if (frame === RELEASE_FRAME) {
        this.forget(link);
        link.send(RELEASED_ACK);
        return this.roleChanged();
      }
      if (frame.startsWith(BOUNCE_PREFIX)) {
        return this.route(frame.slice(BOUNCE_PREFIX.length), true);
      }
    }
    // The session's target: /health counts it while its link lives.
    if (link === this.session && frame === ACK_FRAME && !this.isTarget) {
      this.isTarget = true;
      live.sessions++;
    }
    if (link === this.session && frame === RATE_LIMITED) {
      noteLimited(this.key, this.opts.failedAttemptWindowMs);
    }
    if (!this.holding.has(link) && this.confirms(link, frame)) {
      this.holding.add(link);
      this.roleChanged();
    }
    this.reply(frame);
  }

  /**
   * Whether an object's frame shows the socket now holds something there: a
   * session (the target's ack, either side's peer_found), a watch, or an
   * init a watcher answered (the object's own refusals carry an error).
   */
  private confirms(link: Link, frame: string | ArrayBuffer): boolean {
    if (typeof frame !== 'string') return false;
    if (link === this.session) return frame === ACK_FRAME || frame === PEER_FOUND_FRAME;
    if (link === this.init) {
      return (
        frame.startsWith('{"type":"bootstrap_ack"') ||
        (frame.startsWith('{"type":"bootstrap_reject"') && !frame.includes('"error"'))
      );
    }
    return frame.startsWith('{"type":"bootstrap_watching"');
  }

  /** The object closed the link: the client's socket closes with the same code. */
  private linkEnded(link: Link, code: number, reason: string): void {
    if (!this.forget(link)) return;
    if (!this.gone) {
      // An object that failed (1006, 1011) leaves the client nothing to wait for.
      const known = code === 1000 || code === 1008;
      this.closeClient(known ? code : 1011, known ? reason : 'internal error');
    }
    this.roleChanged();
  }

  /** Closes a link the client no longer needs. */
  private drop(link: Link): void {
    this.forget(link);
    link.close();
  }

  private forget(link: Link): boolean {
    // What it held is over: a new idle period starts now, as on the server.
    if (this.holding.delete(link)) this.idleSince = Date.now();
    if (this.session === link) {
      this.session = null;
      if (this.isTarget) live.sessions--;
      this.isTarget = false;
      return true;
    }
    if (this.init === link) {
      this.init = null;
      return true;
    }
    for (const [jti, watch] of this.watches) {
      if (watch !== link) continue;
      this.watches.delete(jti);
      return true;
    }
    return false;
  }

  private reply(frame: string | ArrayBuffer): void {
    if (!this.gone && this.socket.readyState === OPEN) this.socket.send(frame);
  }

  private closeClient(code: number, reason: string): void {
    if (this.socket.readyState === OPEN) this.socket.close(code, reason);
    this.close();
  }

  /**
   * A socket that holds nothing (no session, watch or pending init) may only
   * linger idleTimeoutMs, as on the server, counted from when it last held
   * something: steps that hold nothing (a failed connect, an init with no
   * watcher) do not start the count again, or a client could keep an idle
   * socket for ever with one failed connect a second. An init in flight
   * holds the socket past the deadline (it may be waiting on a watcher); if
   * it ends unanswered, the socket is closed then. This timer lives in the
   * Worker, which runs as long as its client's socket is open.
   */
  private roleChanged(): void {
    if (this.idle !== null) clearTimeout(this.idle);
    this.idle = null;
    if (this.gone || this.opts.idleTimeoutMs <= 0 || this.holds()) return;
    const left = this.idleSince + this.opts.idleTimeoutMs - Date.now();
    this.idle = setTimeout(
      () => {
        this.idle = null;
        if (!this.holds()) this.closeClient(1000, 'idle');
      },
      Math.max(0, left),
    );
  }

  private holds(): boolean {
    return this.holding.size > 0 || this.init !== null;
  }

  private close(): void {
    if (this.gone) return;
    this.gone = true;
    live.sockets--;
    if (this.idle !== null) clearTimeout(this.idle);
    for (const link of [this.session, this.init, ...this.watches.values()]) {
      if (link !== null) this.drop(link);
    }
  }
}

/** The error code of a frame sent on as ERROR_PREFIX + code, if it is one. */
function errorOf(text: string): ErrorCode | undefined {
  const code = text.slice(ERROR_PREFIX.length);
  return (ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : undefined;
}
