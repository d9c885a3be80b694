import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { inbox } from './inbox.js';

/** A frame the relay sent: its opcode and payload as text. */
export interface ServerFrame {
  opcode: number;
  text: string;
}

/**
 * A WebSocket client written on a plain TCP socket, for what a well-behaved
 * client library will not do: many frames in one write, a close frame never
 * answered, a socket that stops reading. The test owns the socket, so nothing
 * reaches into a library's internals.
 */
export interface RawClient {
  readonly socket: Socket;
  /** Writes bytes as they are (frames made with maskedTextFrame). */
  write(bytes: Buffer): void;
  send(text: string): void;
  /** The next frame from the relay, in order; rejects after timeoutMs. */
  next(timeoutMs?: number): Promise<ServerFrame>;
  /** Resolves once the relay (or the test) ended the TCP connection. */
  readonly ended: Promise<void>;
}

const open = new Set<Socket>();

/** Destroys every raw socket a test left open. */
export function closeRawClients(): void {
  for (const socket of open) socket.destroy();
  open.clear();
}

/** A client text frame, masked as RFC 6455 requires of clients (all-zero mask: payload as is). */
export function maskedFrame(text: string, opcode = 0x1): Buffer {
  const payload = Buffer.from(text);
  const n = payload.length;
  const head =
    n < 126
      ? Buffer.from([0x80 | opcode, 0x80 | n])
      : Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 255]);
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}

/** Upgrades a TCP connection on `url` (ws://host:port/path) and reads the relay's frames. */
export function rawConnect(url: string): Promise<RawClient> {
  const { hostname, port, pathname, search } = new URL(url);
  const socket = connect(Number(port), hostname);
  open.add(socket);
  const frames = inbox<ServerFrame>('frame');
  let buffered = Buffer.alloc(0);
  let upgraded = false;
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));

  const parse = (): void => {
    for (;;) {
      if (buffered.length < 2) return;
      const opcode = buffered[0]! & 0x0f;
      let length = buffered[1]! & 0x7f;
      let at = 2;
      if (length === 126) {
        if (buffered.length < 4) return;
        length = buffered.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (buffered.length < 10) return;
        length = Number(buffered.readBigUInt64BE(2));
        at = 10;
      }
      if (buffered.length < at + length) return;
      frames.push({ opcode, text: buffered.subarray(at, at + length).toString() });
      buffered = buffered.subarray(at + length);
    }
  };

  const client: RawClient = {
    socket,
    write: (bytes) => socket.write(bytes),
    send: (text) => socket.write(maskedFrame(text)),
    next: frames.next,
    ended,
  };

  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(
        `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
          'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!upgraded) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const status = buffered.subarray(0, end).toString().split(' ')[1];
        if (status !== '101') {
          reject(new Error(`upgrade answered ${status}`));
          socket.destroy();
          return;
        }
        upgraded = true;
        buffered = buffered.subarray(end + 4);
        resolve(client);
      }
      parse();
    });
  });
}
