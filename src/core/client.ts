import { PEER_FOUND_FRAME } from '../protocol/messages.js';
import type { Answer } from '../limits/answer.js';
import { endingFor } from './endings.js';
import type { Clock, Timer } from './clock.js';
import type { Expiring, ExpiryQueue } from './expiry.js';
import type { EndReason, Member, Session } from './sessions.js';
import type { SocketEvents, SocketKind } from './socket.js';

// A peer that does not answer our close frame is cut off after this, not after
// ws's own 30 s, so it stops holding a slot of the socket caps.
const CLOSE_ANSWER_MS = 2_000;

// Frames that arrive while a listen/connect/watch is pending wait in order.
// Past PAUSE_AT frames, or PAUSE_AT_BYTES, the socket stops being read (TCP
// backpressure, nothing lost). A runtime that cannot pause (Bun) keeps
// receiving: its backlog is cut off past MAX_BACKLOG_FRAMES or the host's
// maxBufferedBytes, the cap a slow reader's send buffer has, rather than
// thousands of 64 KiB frames held for one socket.
const PAUSE_AT = 32;
const PAUSE_AT_BYTES = 64 * 1024;
const MAX_BACKLOG_FRAMES = 4_096;

/** A text frame's raw bytes, or a binary frame already decoded to text. */
export type Frame = Buffer | string;

/** What a client needs of the relay that holds it. */
export interface ClientHost {
  /** Handles one frame; a promise while an asynchronous step (a rate-limit call) runs. */
  handle(client: Client, frame: Frame): Answer<void>;
  /** A handler failed (a bug, or a store that threw): the client's later frames still run. */
  failed(err: unknown): void;
  /** Once, when the socket is gone; the client has already let go of its own state. */
  onClose(client: Client): void;
  /** A reader whose unsent bytes pass this is cut off. */
  readonly maxBufferedBytes: number;
  /** Where a socket that holds nothing waits to be closed; null: it may wait forever. */
  readonly idle: ExpiryQueue<IdleMark> | null;
  /** The one kind of socket this relay's transport hands it. */
  readonly socketKind: SocketKind<unknown>;
  readonly clock: Clock;
}

/**
 * What the relay knows about one WebSocket; it receives that socket's events
 * itself. It owns its timers (idle, close answer), its backlog and its flags:
 * the relay and the brokers call its methods, never write its fields.
 *
 * Twelve own fields at most (test/budget.test.ts): JSC rounds objects up to
 * size classes, and a 13th field took a Client from 113 to 161 heap bytes on
 * Bun (docs/benchmarks.md). A new one must push another out.
 */
export class Client implements Member, SocketEvents {
  /** Set and cleared by Pairing (the Member seam), the one owner of sessions. */
  session: Session | null = null;
  /** The jti of the bootstrap_init this socket waits on: BootstrapBroker's, as for any InitWaiter. */
  pendingInitJti: string | null = null;
  /** jtis this socket watches as a bootstrap controller. */
  private watched: Set<string> | null = null;
  /** Set by any inbound frame or pong; cleared by each heartbeat. */
  private alive = true;
  private isClosed = false;
  /** Reading stopped while the backlog is long. */
  private paused = false;
  /** Its place in the host's idle queue, made the first time it holds nothing. */
  private idleMark: IdleMark | null = null;
  /** Cuts off a socket that does not answer our close frame. */
  private closeTimer: Timer | null = null;
  /** Frames that arrived while an asynchronous step (a rate-limit call) ran; keeps order. */
  private backlog: Backlog | null = null;

  constructor(
    /** The runtime's own socket, only ever handed back to the host's socketKind. */
    private readonly socket: unknown,
    /** The rate-limit key: client address, IPv6 by /64. */
    readonly key: string,
    private readonly host: ClientHost,
  ) {
    this.roleChanged();
  }

  /** The socket is gone: nothing new starts for it. */
  get closed(): boolean {
    return this.isClosed;
  }

  get isOpen(): boolean {
    return this.host.socketKind.isOpen(this.socket);
  }

  terminate(): void {
    this.host.socketKind.terminate(this.socket);
  }

  ping(): void {
    this.host.socketKind.ping(this.socket);
  }

  /** Stops reading the socket; false if the transport cannot. */
  pause(): boolean {
    return this.host.socketKind.pause(this.socket);
  }

  resume(): void {
    this.host.socketKind.resume(this.socket);
  }

  frame(data: Frame): void {
    // A socket the relay is closing starts nothing new while it waits for the close frame.
    if (!this.isOpen) return;
    this.alive = true;
    const { backlog } = this;
    if (backlog !== null) {
      const { frames } = backlog;
      // A string's length, not its UTF-8 size: at most 3x under, for a cap that only bounds.
      backlog.bytes += data.length;
      if (frames.length >= MAX_BACKLOG_FRAMES || backlog.bytes > this.host.maxBufferedBytes) {
        this.backlog = new Backlog();
        this.close(1008, 'too many pending messages');
        return;
      }
      frames.push(data);
      if (!this.paused && (frames.length >= PAUSE_AT || backlog.bytes >= PAUSE_AT_BYTES)) {
        this.paused = this.pause();
      }
      return;
    }
    const pending = this.host.handle(this, data);
    if (pending instanceof Promise) this.park(pending, new Backlog());
  }

  pong(): void {
    this.alive = true;
  }

  gone(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.backlog = null;
    this.cancelTimers();
    this.host.onClose(this);
  }

  /**
   * One heartbeat round: a socket silent since the last one is cut off
   * (false), any other is pinged and must answer before the next.
   */
  beat(): boolean {
    if (!this.alive) {
      this.terminate();
      return false;
    }
    this.alive = false;
    if (this.isOpen) this.ping();
    return true;
  }

  /** Shutdown: no deadline of this socket outlives the relay; the socket is dropped. */
  dispose(): void {
    this.cancelTimers();
    this.terminate();
  }

  /** This socket now watches `jti` as a bootstrap controller. */
  watch(jti: string): void {
    (this.watched ??= new Set()).add(jti);
    this.roleChanged();
  }

  unwatch(jti: string): void {
    this.watched?.delete(jti);
  }

  /** The jtis it watches, as a copy: ending each watch changes the set. */
  watches(): string[] {
    return this.watched === null ? [] : [...this.watched];
  }

  /**
   * It gained or lost a session, watch or pending init: a socket that holds
   * nothing may only linger idleTimeoutMs, one that holds something forever.
   */
  roleChanged(): void {
    const { idle } = this.host;
    if (this.isClosed || idle === null) return;
    const mark = this.idleMark;
    if (this.holdsNothing()) {
      if (mark === null) idle.add((this.idleMark = new IdleMark(this)), this.host.clock.now());
    } else if (mark !== null) {
      // Dropped, not kept for later: a socket in a session holds no mark
      // (~56 bytes less per member of an idle paired session).
      idle.remove(mark);
      this.idleMark = null;
    }
  }

  /**
   * An asynchronous step is running: later frames wait in the backlog so a
   * socket's messages are always handled in order.
   */
  private park(pending: Promise<void>, waiting: Backlog): void {
    this.backlog = waiting;
    const resume = (): void => {
      const backlog = this.backlog ?? new Backlog();
      this.backlog = null;
      while (!this.isClosed && backlog.frames.length > 0) {
        const next = backlog.shift();
        const more = this.host.handle(this, next);
        if (more instanceof Promise) return this.park(more, backlog);
      }
      if (this.paused) {
        this.paused = false;
        this.resume();
      }
    };
    pending.then(resume, (err: unknown) => {
      this.host.failed(err);
      resume();
    });
  }

  private cancelTimers(): void {
    if (this.idleMark !== null) this.host.idle?.remove(this.idleMark);
    if (this.closeTimer !== null) this.host.clock.cancel(this.closeTimer);
    this.closeTimer = null;
  }

  /** Sends a frame; a reader that lets its buffer grow past the cap is cut off. */
  send(frame: string | Buffer): void {
    const { socket } = this;
    const kind = this.host.socketKind;
    if (!kind.isOpen(socket)) return;
    kind.send(socket, frame);
    if (kind.bufferedAmount(socket) > this.host.maxBufferedBytes) kind.terminate(socket);
  }

  peerFound(): void {
    this.send(PEER_FOUND_FRAME);
  }

  /** What a socket hears when its session ends (core/endings.ts), then maybe its close. */
  ended(reason: EndReason, self: boolean): void {
    const { frame, close } = endingFor(reason, self);
    if (frame !== null) this.send(frame);
    if (close !== null) this.close(close[0], close[1]);
  }

  close(code: number, reason: string): void {
    const { socket } = this;
    const kind = this.host.socketKind;
    if (!kind.isOpen(socket)) return;
    kind.close(socket, code, reason);
    const { clock } = this.host;
    this.closeTimer = clock.schedule('close_answer', clock.now() + CLOSE_ANSWER_MS, () =>
      kind.terminate(socket),
    );
  }

  private holdsNothing(): boolean {
    return (
      this.session === null &&
      this.pendingInitJti === null &&
      (this.watched === null || this.watched.size === 0)
    );
  }
}

/** Frames waiting on an asynchronous step, and their size; made only while one runs. */
class Backlog {
  readonly frames: Frame[] = [];
  bytes = 0;

  shift(): Frame {
    const frame = this.frames.shift() as Frame;
    this.bytes -= frame.length;
    return frame;
  }
}

/**
 * A socket's place in the idle queue. Every idle deadline lies the same time
 * after it is set, so one ExpiryQueue and one timer serve all sockets: a
 * timer per socket (a Timeout, its closure and scope) cost ~190 heap bytes
 * per connected socket and a setTimeout/clearTimeout pair per pairing; a mark
 * costs ~56 (heap snapshot diff, 2,000 sockets, docs/benchmarks.md).
 */
export class IdleMark implements Expiring {
  expiresAt = 0;
  expiry: ExpiryQueue<Expiring> | null = null;
  slot = -1;
  constructor(readonly client: Client) {}
}

/** Closes each socket whose mark comes due. */
export function closeIdle(mark: IdleMark): void {
  mark.client.close(1000, 'idle');
}
