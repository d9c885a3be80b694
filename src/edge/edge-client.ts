import { Buffer } from 'node:buffer';
import type { ResolvedOptions } from '../config/options.js';
import { ERROR_CODES, errorFrame, type ErrorCode } from '../protocol/errors.js';
import { isPlainDataText } from '../protocol/fast-data.js';
import { parseFrame } from '../protocol/parse.js';
import type { EdgeEnv } from './env.js';
import { ACK_FRAME } from '../protocol/messages.js';
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
    this.roleChanged(true);
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
    this.reply(frame);
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
   * linger idleTimeoutMs, as on the server; this timer lives in the Worker,
   * which runs as long as its client's socket is open.
   */
  private roleChanged(holds = false): void {
    if (this.idle !== null) clearTimeout(this.idle);
    this.idle = null;
    const nothing =
      !holds && this.session === null && this.init === null && this.watches.size === 0;
    if (nothing && !this.gone && this.opts.idleTimeoutMs > 0) {
      this.idle = setTimeout(() => this.closeClient(1000, 'idle'), this.opts.idleTimeoutMs);
    }
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
