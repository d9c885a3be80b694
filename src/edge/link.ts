import { socketOf, type DurableObjectNamespace, type EdgeSocket } from './workers-api.js';

/**
 * Control frames an object sends the Worker on a link, never to a client (a
 * relay frame is a JSON object: it starts with `{`). RELEASE: the socket's
 * session or watch here is over, route its next frames afresh. BOUNCE + frame: a frame that arrived after the
 * release and names another object; the Worker routes it again.
 */
export const RELEASE_FRAME = '~release';
/**
 * The Worker's answer to RELEASE_FRAME, after which it sends nothing more on
 * the link: the object, having bounced whatever came before it, closes the
 * link (a socket that closes itself drops frames still arriving on it).
 */
export const RELEASED_ACK = '~released';
/**
 * A client frame the Worker found bad, as the error to answer it with: a
 * client's own text that starts with `~` is never valid JSON, so it can
 * only ever reach an object in this form, never pass for a control frame.
 */
export const ERROR_PREFIX = '~error:';
export const BOUNCE_PREFIX = '~bounce:';
/** Headers of the link upgrade: the client key the Worker derived, and the object's name. */
export const LINK_KEY_HEADER = 'x-relay-client-key';
export const LINK_NAME_HEADER = 'x-relay-object';
export const CODE_PREFIX = 'otc:';
export const JTI_PREFIX = 'jti:';

/**
 * One WebSocket from the Worker to the Durable Object of one code or jti,
 * over which a client's frames for it go and its answers come back. Frames
 * sent before the object has accepted wait, in order.
 */
export class Link {
  private socket: EdgeSocket | null = null;
  private waiting: string[] | null = [];
  /** What waits, in string length; past maxWaiting the link ends 1008, as a server backlog does. */
  private waitingSize = 0;
  private closed = false;

  constructor(
    readonly name: string,
    namespace: DurableObjectNamespace,
    key: string,
    onFrame: (frame: string | ArrayBuffer) => void,
    private readonly onEnd: (code: number, reason: string) => void,
    private readonly maxWaiting: number,
  ) {
    const stub = namespace.get(namespace.idFromName(name));
    stub
      .fetch('https://relay-object/link', {
        headers: { upgrade: 'websocket', [LINK_KEY_HEADER]: key, [LINK_NAME_HEADER]: name },
      })
      .then((response) => {
        const socket = socketOf(response);
        if (socket === null) return onEnd(1011, 'internal error');
        socket.accept();
        socket.addEventListener('message', (event) => onFrame(event.data));
        socket.addEventListener('close', (event) => onEnd(event.code, event.reason));
        socket.addEventListener('error', () => onEnd(1011, 'internal error'));
        this.socket = socket;
        if (this.closed) return socket.close(1000, 'closed');
        for (const frame of this.waiting ?? []) socket.send(frame);
        this.waiting = null;
      })
      .catch(() => onEnd(1011, 'internal error'));
  }

  send(frame: string): void {
    if (this.closed) return;
    if (this.socket !== null) return this.socket.send(frame);
    this.waitingSize += frame.length;
    if (this.waitingSize > this.maxWaiting) {
      this.waiting = null;
      this.close();
      return this.onEnd(1008, 'too many pending messages');
    }
    this.waiting?.push(frame);
  }

  /** The client is gone, or no longer wants this: the object sees the link close. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket?.close(1000, 'closed');
    } catch {
      // Already closing from the object's side.
    }
  }
}
