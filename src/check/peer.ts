import { WebSocket } from 'ws';

export type Message = Record<string, unknown>;

/** A simulated pairing client: a WebSocket with an awaitable message queue. */
export interface Peer {
  send(message: Message): void;
  /** The next message; rejects when the socket closes first or after timeoutMs. */
  next(timeoutMs: number): Promise<Message>;
  /** Set once the socket has closed: its code, and when (performance.now()). */
  closedWith: { code: number; atMs: number } | undefined;
  /** Resolves when the socket closes. */
  closed: Promise<void>;
  close(): void;
}

/** The upgrade's outcome: an open peer, an HTTP refusal, or a network error. */
export type Opened = { peer: Peer } | { status: number } | { error: string };

export function openPeer(
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<Opened> {
  const ws = new WebSocket(url, { headers, handshakeTimeout: timeoutMs, perMessageDeflate: false });
  const queue: Message[] = [];
  const waiters: Array<{ resolve(m: Message): void; reject(e: Error): void }> = [];
  let markClosed: () => void = () => undefined;
  const peer: Peer = {
    send: (message) => ws.send(JSON.stringify(message)),
    next(ms) {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      if (peer.closedWith !== undefined) {
        return Promise.reject(new Error(`connection closed (${peer.closedWith.code})`));
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no answer within ${ms} ms`));
        }, ms);
        const waiter = {
          resolve: (m: Message) => {
            clearTimeout(timer);
            resolve(m);
          },
          reject: (e: Error) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        waiters.push(waiter);
      });
    },
    closedWith: undefined,
    closed: new Promise((resolve) => (markClosed = resolve)),
    close: () => ws.close(1000),
  };
  ws.on('message', (data) => {
    let msg: Message;
    try {
      msg = JSON.parse(data.toString()) as Message;
    } catch {
      msg = { type: 'unreadable' };
    }
    const waiter = waiters.shift();
    if (waiter !== undefined) waiter.resolve(msg);
    else queue.push(msg);
  });
  ws.on('close', (code) => {
    peer.closedWith = { code, atMs: performance.now() };
    for (const w of waiters.splice(0)) w.reject(new Error(`connection closed (${code})`));
    markClosed();
  });
  return new Promise((resolve) => {
    ws.once('open', () => resolve({ peer }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('error', (err: NodeJS.ErrnoException) => {
      if (!/Unexpected server response/.test(err.message))
        resolve({ error: err.code ?? err.message });
    });
  });
}
