import { Buffer } from 'node:buffer';
import type { Timer } from '../core/clock.js';
import { endingFor } from '../core/endings.js';
import type { EndReason } from '../core/sessions.js';
import {
  bootstrapRejectFrame,
  ERROR_CODES,
  errorFrame,
  type ErrorCode,
} from '../protocol/errors.js';
import { isPlainDataText } from '../protocol/fast-data.js';
import {
  ACK_FRAME,
  PEER_FOUND_FRAME,
  dataFrame,
  encode,
  type ClientMessage,
} from '../protocol/messages.js';
import { parseFrame } from '../protocol/parse.js';
import type { ResolvedOptions } from '../config/options.js';
import { AlarmClock } from './alarm-clock.js';
import { remoteBudget } from './budget-object.js';
import type { AttemptBudget } from '../limits/attempt-budget.js';
import { edgeOptions, type EdgeEnv } from './env.js';
import {
  BOUNCE_PREFIX,
  ERROR_PREFIX,
  JTI_PREFIX,
  LINK_KEY_HEADER,
  LINK_NAME_HEADER,
  RELEASE_FRAME,
  RELEASED_ACK,
} from './link.js';
import { usage } from './usage.js';
import {
  OPEN,
  socketPair,
  upgraded,
  type DurableObjectState,
  type EdgeSocket,
} from './workers-api.js';
import { WindowCount } from './window-count.js';

/** What a linked socket is to this object; kept in its attachment, so hibernation keeps it. */
interface Role {
  /** The client key (address, IPv6 by /64) the Worker vouched for. */
  key: string;
  /** The object's name as the Worker gave it: `otc:<code>` or `jti:<jti>`. */
  name: string;
  role: 'none' | 'target' | 'controller' | 'watcher' | 'waiter';
  /** target: when the session opened and paired (0: not yet), its bytes, its deadline. */
  openedAt: number;
  pairedAt: number;
  bytes: number;
  /** target or watcher: when its TTL runs out. */
  until: number;
  /** Let go (RELEASE_FRAME sent): whatever still comes on it belongs elsewhere. */
  released?: boolean;
}

type InitMessage = Extract<ClientMessage, { type: 'bootstrap_init' }>;
type AnswerMessage = Extract<ClientMessage, { type: 'bootstrap_ack' | 'bootstrap_reject' }>;

const decoder = new TextDecoder();

/**
 * One code's session, or one jti's bootstrap watch: the Durable Object named
 * `otc:<code>` or `jti:<jti>`. Each client socket the Worker pipes here is
 * one linked socket, accepted with the Hibernation API so the object sleeps
 * between frames; everything that must outlive a sleep is in the sockets'
 * attachments, the alarm, and (code burn, used jti) storage. The rules are
 * the core's (core/pairing.ts, core/bootstrap.ts) for a table of one: the
 * same parser, frames, error catalog and endings (core/endings.ts).
 */
export class RelayObject {
  private readonly opts: ResolvedOptions;
  private readonly clock: AlarmClock;
  private readonly addressBudget: AttemptBudget;
  private readonly watchBudget: AttemptBudget;
  private ttl: Timer | null = null;
  /** Frames are handled one at a time, in order, as core/client.ts's backlog does. */
  private chain: Promise<void> = Promise.resolve();
  /** The string length of the frames waiting in the chain. */
  private queued = 0;

  constructor(
    private readonly ctx: DurableObjectState,
    env: EdgeEnv,
  ) {
    usage.objectStarts++;
    this.opts = edgeOptions(env);
    this.clock = new AlarmClock(ctx.storage);
    this.addressBudget = remoteBudget(env.BUDGETS, 'failures');
    this.watchBudget = remoteBudget(env.BUDGETS, 'watches');
    // Rebuilt after a sleep: the deadline the alarm stands for comes back from the attachments.
    for (const socket of ctx.getWebSockets()) {
      const role = roleOf(socket);
      if (role.until === 0) continue;
      if (role.role === 'target') {
        const kind = role.pairedAt === 0 ? 'session_ttl' : 'paired_ttl';
        this.ttl = this.clock.restore(kind, role.until, () => this.expire());
      } else if (role.role === 'watcher') {
        this.ttl = this.clock.restore('watch_ttl', role.until, () => this.unwatch(true));
      }
    }
  }

  /** The Worker links one client socket here (an upgrade carrying its client key). */
  async fetch(request: Request): Promise<Response> {
    usage.objectRequests++;
    if (request.headers.get('upgrade') !== 'websocket') return new Response(null, { status: 426 });
    const [client, server] = socketPair();
    this.ctx.acceptWebSocket(server);
    const role: Role = {
      key: request.headers.get(LINK_KEY_HEADER) ?? 'unknown',
      name: request.headers.get(LINK_NAME_HEADER) ?? '',
      role: 'none',
      openedAt: 0,
      pairedAt: 0,
      bytes: 0,
      until: 0,
    };
    server.serializeAttachment(role);
    return upgraded(client);
  }

  webSocketMessage(socket: EdgeSocket, message: string | ArrayBuffer): Promise<void> {
    usage.objectMessages++;
    const text = typeof message === 'string' ? message : decoder.decode(message);
    // An object cannot stop reading a socket: while a step waits (a budget
    // object's answer), what queues behind it is bounded as a server
    // backlog is (core/client.ts), and the socket that overflows is closed.
    if (this.queued + text.length > this.opts.maxBufferedBytes) {
      if (socket.readyState === OPEN) socket.close(1008, 'too many pending messages');
      return this.chain;
    }
    this.queued += text.length;
    const run = (): Promise<void> => {
      this.queued -= text.length;
      return this.handle(socket, text);
    };
    this.chain = this.chain.then(run, run);
    return this.chain;
  }

  webSocketClose(socket: EdgeSocket): Promise<void> {
    const run = async (): Promise<void> => this.gone(socket);
    this.chain = this.chain.then(run, run);
    return this.chain;
  }

  webSocketError(socket: EdgeSocket): Promise<void> {
    return this.webSocketClose(socket);
  }

  alarm(): void {
    usage.alarms++;
    this.clock.ring();
  }

  private async handle(socket: EdgeSocket, text: string): Promise<void> {
    if (socket.readyState !== OPEN) return;
    // The Worker saw the release and sends nothing more here.
    if (text === RELEASED_ACK) return socket.close(1000, 'released');
    // Sent before the Worker saw this socket's release: the Worker routes it again.
    if (roleOf(socket).released === true) return send(socket, BOUNCE_PREFIX + text);
    if (isPlainDataText(text)) return this.data(socket, text, Buffer.byteLength(text));
    // A frame the Worker already found bad: answered here, in its turn.
    if (text.startsWith(ERROR_PREFIX)) {
      const code = text.slice(ERROR_PREFIX.length) as ErrorCode;
      if ((ERROR_CODES as readonly string[]).includes(code)) send(socket, errorFrame(code));
      return;
    }
    const msg = parseFrame(text, this.opts);
    if (typeof msg === 'string') return send(socket, errorFrame(msg));
    switch (msg.type) {
      case 'data':
        return this.data(socket, dataFrame(msg.payload), Buffer.byteLength(text));
      case 'listen':
        return this.listen(socket);
      case 'connect':
        return this.connect(socket);
      case 'done': {
        const role = roleOf(socket).role;
        if (role === 'target' || role === 'controller') this.end('done', socket);
        return;
      }
      case 'bootstrap_watch':
        return this.watch(socket);
      case 'bootstrap_init':
        return this.init(socket, msg);
      case 'bootstrap_ack':
      case 'bootstrap_reject':
        return this.answer(socket, msg);
    }
  }

  // --- pairing (core/pairing.ts, for the one code this object is) ---

  // The object is its code: listen and connect need no code of their own.
  private async listen(socket: EdgeSocket): Promise<void> {
    const me = roleOf(socket);
    if (me.role === 'target' || me.role === 'controller')
      return send(socket, errorFrame('otc_in_use'));
    if (!(await this.reserve(socket, me))) return;
    if ((await this.burned()) || this.find('target') !== undefined) {
      return this.fail(socket, me, 'otc_in_use');
    }
    void this.addressBudget.end(me.key, false);
    if (socket.readyState !== OPEN) return;
    const now = this.clock.now();
    save(socket, { ...me, role: 'target', openedAt: now, until: now + this.opts.sessionTtlMs });
    this.ttl = this.clock.schedule('session_ttl', now + this.opts.sessionTtlMs, () =>
      this.expire(),
    );
    send(socket, ACK_FRAME);
  }

  private async connect(socket: EdgeSocket): Promise<void> {
    const me = roleOf(socket);
    if (me.role === 'target' || me.role === 'controller')
      return send(socket, errorFrame('otc_in_use'));
    if (!(await this.reserve(socket, me))) return;
    // A burned code answers like an absent one: no oracle for the guesser.
    if (await this.burned()) return this.fail(socket, me, 'otc_not_found');
    if (socket.readyState !== OPEN) return void this.addressBudget.end(me.key, false);
    const target = this.find('target');
    if (target === undefined) return this.fail(socket, me, 'otc_not_found');
    if (this.find('controller') !== undefined)
      return this.fail(socket, me, 'peer_already_connected');
    const now = this.clock.now();
    const session = roleOf(target);
    save(target, { ...session, pairedAt: now, until: now + this.opts.pairedTtlMs });
    save(socket, { ...me, role: 'controller' });
    if (this.ttl !== null) this.clock.cancel(this.ttl);
    // Once paired, at most one more TTL: time for a person to compare codes.
    this.ttl = this.clock.schedule('paired_ttl', now + this.opts.pairedTtlMs, () => this.expire());
    send(target, PEER_FOUND_FRAME);
    send(socket, PEER_FOUND_FRAME);
    void this.addressBudget.end(me.key, false);
  }

  private data(socket: EdgeSocket, frame: string, frameBytes: number): void {
    const me = roleOf(socket);
    if (me.role !== 'target' && me.role !== 'controller') return;
    const target = me.role === 'target' ? socket : this.find('target');
    const controller = me.role === 'controller' ? socket : this.find('controller');
    if (target === undefined || controller === undefined) return;
    const session = roleOf(target);
    const bytes = session.bytes + frameBytes;
    save(target, { ...session, bytes });
    if (bytes > this.opts.maxSessionBytes) return this.end('data_limit');
    send(socket === target ? controller : target, frame);
  }

  private expire(): void {
    this.ttl = null;
    if (this.find('target') !== undefined) this.end('expired');
  }

  /** Ends the session once, whatever the cause (core/pairing.ts's end()). */
  private end(reason: EndReason, by?: EdgeSocket): void {
    // The socket that ended it may be closing already: it is found by its role, not its state.
    const byRole = by === undefined ? undefined : roleOf(by).role;
    const target = byRole === 'target' ? by : this.find('target');
    if (target === undefined) return;
    const controller = byRole === 'controller' ? by : this.find('controller');
    const session = roleOf(target);
    if (this.ttl !== null) this.clock.cancel(this.ttl);
    this.ttl = null;
    for (const member of controller === undefined ? [target] : [target, controller]) {
      save(member, {
        ...roleOf(member),
        role: 'none',
        openedAt: 0,
        pairedAt: 0,
        bytes: 0,
        until: 0,
      });
      if (member === by) continue;
      const { frame, close } = endingFor(reason, false);
      if (frame !== null) send(member, frame);
      if (close !== null) closeLink(member, close[0], close[1]);
      else release(member);
    }
    if (by !== undefined) release(by);
    // A listen that never pairs costs its address an attempt: otherwise ack
    // versus otc_in_use would be a free test of which codes are live.
    if (controller === undefined && reason !== 'burned' && reason !== 'shutdown') {
      this.ctx.waitUntil(this.addressBudget.spend(session.key).catch(() => false));
    }
  }

  private async reserve(socket: EdgeSocket, me: Role): Promise<boolean> {
    if (await this.addressBudget.begin(me.key)) return true;
    send(socket, errorFrame('rate_limited'));
    release(socket);
    return false;
  }

  /**
   * A failed attempt spends the address's reserved attempt and counts against
   * the code; a code with too many failures is burned, and an unpaired
   * session on it ends. The socket is let go, to be routed again.
   */
  private async fail(socket: EdgeSocket, me: Role, error: ErrorCode): Promise<void> {
    await this.addressBudget.end(me.key, true);
    const failures = await this.codeFailures().spend(this.clock.now());
    if (failures >= this.opts.codeFailureLimit && this.find('controller') === undefined) {
      this.end('burned');
    }
    send(socket, errorFrame(error));
    release(socket);
  }

  private async burned(): Promise<boolean> {
    return (await this.codeFailures().used(this.clock.now())) >= this.opts.codeFailureLimit;
  }

  private codeFailures(): WindowCount {
    return new WindowCount(this.ctx.storage, 'code_failures', this.opts.failedAttemptWindowMs);
  }

  // --- bootstrap (core/bootstrap.ts, for the one jti this object is) ---

  private async watch(socket: EdgeSocket): Promise<void> {
    const me = roleOf(socket);
    if (!(await this.watchBudget.spend(me.key).catch(() => false))) {
      send(socket, errorFrame('rate_limited'));
      if (me.role !== 'watcher') release(socket);
      return;
    }
    if (socket.readyState !== OPEN) return;
    const watcher = this.find('watcher');
    // First live claim wins: last-write-wins let anyone race a controller off its slot.
    if (watcher !== undefined && watcher !== socket) {
      send(socket, errorFrame('jti_already_watched'));
      return release(socket);
    }
    if (this.ttl !== null) this.clock.cancel(this.ttl);
    const until = this.clock.now() + this.opts.watchTtlMs;
    save(socket, { ...me, role: 'watcher', until });
    this.ttl = this.clock.schedule('watch_ttl', until, () => this.unwatch(true));
    send(socket, encode({ type: 'bootstrap_watching', jti: this.jtiOf(socket) }));
  }

  private async init(socket: EdgeSocket, msg: InitMessage): Promise<void> {
    const { storage } = this.ctx;
    const now = this.clock.now();
    usage.storageReads++;
    const usedUntil = await storage.get<number>('used_until');
    if (usedUntil !== undefined && usedUntil > now)
      return this.rejectInit(socket, 'token_already_used');
    const watcher = this.find('watcher');
    if (watcher === undefined) return this.rejectInit(socket, 'no_watcher');
    // Burn the jti now, before any answer: a crash or disconnect mid-way must
    // not let the same token be tried again by someone else.
    usage.storageWrites++;
    await storage.put('used_until', now + this.opts.consumedJtiTtlMs);
    if (socket.readyState !== OPEN) return;
    save(socket, { ...roleOf(socket), role: 'waiter' });
    send(
      watcher,
      encode({
        type: 'bootstrap_init',
        jti: msg.jti,
        token: msg.token,
        targetPubKey: msg.targetPubKey,
      }),
    );
  }

  /** The watcher's ack or reject; only the socket that holds the watch may answer. */
  private answer(socket: EdgeSocket, msg: AnswerMessage): void {
    if (roleOf(socket).role !== 'watcher') return send(socket, errorFrame('invalid_jti'));
    const waiter = this.find('waiter');
    if (waiter !== undefined) {
      const reply: { type: typeof msg.type; jti: string; controllerPubKey?: string } = {
        type: msg.type,
        jti: msg.jti,
      };
      if (msg.publicKey !== undefined) reply.controllerPubKey = msg.publicKey;
      save(waiter, { ...roleOf(waiter), role: 'none' });
      send(waiter, encode(reply));
      release(waiter);
    }
    this.unwatch(false);
  }

  /** Ends the watch; a target still waiting on it is told there is no watcher any more. */
  private unwatch(abandoned: boolean): void {
    const watcher = this.find('watcher');
    if (this.ttl !== null) this.clock.cancel(this.ttl);
    this.ttl = null;
    if (watcher !== undefined) {
      save(watcher, { ...roleOf(watcher), role: 'none', until: 0 });
      release(watcher);
    }
    const waiter = this.find('waiter');
    if (abandoned && waiter !== undefined) {
      save(waiter, { ...roleOf(waiter), role: 'none' });
      this.rejectInit(waiter, 'no_watcher');
    }
  }

  private rejectInit(socket: EdgeSocket, reason: Parameters<typeof bootstrapRejectFrame>[0]): void {
    send(socket, bootstrapRejectFrame(reason));
    release(socket);
  }

  /** The jti a watcher's link was opened for (the Worker names the object by it). */
  private jtiOf(socket: EdgeSocket): string {
    return roleOf(socket).name.slice(JTI_PREFIX.length);
  }

  // --- sockets ---

  /** A linked socket closed (its client went away): whatever it held ends. */
  private gone(socket: EdgeSocket): void {
    const me = roleOf(socket);
    if (me.role === 'target' || me.role === 'controller') this.end('peer_disconnected', socket);
    else if (me.role === 'watcher') this.unwatch(true);
    else if (me.role === 'waiter') save(socket, { ...me, role: 'none' });
    try {
      socket.close(1000, 'closed');
    } catch {
      // Already closed both ways.
    }
  }

  private find(role: Role['role']): EdgeSocket | undefined {
    for (const socket of this.ctx.getWebSockets()) {
      if (socket.readyState === OPEN && roleOf(socket).role === role) return socket;
    }
    return undefined;
  }
}

function roleOf(socket: EdgeSocket): Role {
  return socket.deserializeAttachment() as Role;
}

function save(socket: EdgeSocket, role: Role): void {
  socket.serializeAttachment(role);
}

function send(socket: EdgeSocket, frame: string): void {
  if (socket.readyState === OPEN) socket.send(frame);
}

/** The socket leaves this object: the Worker routes the client's next frames afresh. */
function release(socket: EdgeSocket): void {
  if (socket.readyState !== OPEN) return;
  save(socket, { ...roleOf(socket), released: true });
  send(socket, RELEASE_FRAME);
}

/** Closes the link, and with it the client's socket, with this code and reason. */
function closeLink(socket: EdgeSocket, code: number, reason: string): void {
  if (socket.readyState === OPEN) socket.close(code, reason);
}
