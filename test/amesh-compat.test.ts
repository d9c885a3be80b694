import { createCipheriv, createDecipheriv, createECDH, createHash, randomBytes } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { cleanup, eventually, startRelay, wsConnect, type TestClient } from './helpers/relay.js';

afterEach(cleanup);

// The amesh CLI's handshake (packages/cli/src/handshake.ts), replayed message
// for message: the reader takes whatever frame comes next and uses its payload
// without checking the type, so any extra frame from the relay breaks it.
const read = async (c: TestClient): Promise<Record<string, unknown>> => c.next(5000);

function seal(key: Buffer, plaintext: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64');
}

function open(key: Buffer, sealed: string): string {
  const raw = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('chacha20-poly1305', key, raw.subarray(0, 12), {
    authTagLength: 16,
  });
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  return Buffer.concat([
    decipher.update(raw.subarray(12, raw.length - 16)),
    decipher.final(),
  ]).toString();
}

const sessionKey = (secret: Buffer): Buffer => createHash('sha256').update(secret).digest();

async function target(url: string, otc: string): Promise<string> {
  const ws = await wsConnect(url);
  ws.send({ type: 'listen', otc });
  const ack = await read(ws);
  if (ack['type'] === 'error') throw new Error(`Relay error: ${String(ack['code'])}`);
  const peerFound = await read(ws);
  if (peerFound['type'] !== 'peer_found')
    throw new Error(`Unexpected: ${String(peerFound['type'])}`);
  const eph = createECDH('prime256v1');
  ws.send({ type: 'data', payload: eph.generateKeys().toString('base64') });
  const peerEph = await read(ws);
  const key = sessionKey(eph.computeSecret(Buffer.from(peerEph['payload'] as string, 'base64')));
  const peerIdentity = open(key, (await read(ws))['payload'] as string);
  ws.send({ type: 'data', payload: seal(key, JSON.stringify({ name: 'target-device' })) });
  // The person compares verification codes, then the target confirms.
  ws.send({ type: 'data', payload: 'sas_confirmed' });
  ws.close();
  return peerIdentity;
}

async function controller(
  url: string,
  otc: string,
): Promise<{ identity: string; confirmed: boolean }> {
  const ws = await wsConnect(url);
  ws.send({ type: 'connect', otc });
  const peerFound = await read(ws);
  if (peerFound['type'] === 'error') throw new Error(`Relay error: ${String(peerFound['code'])}`);
  const peerEph = await read(ws);
  const eph = createECDH('prime256v1');
  ws.send({ type: 'data', payload: eph.generateKeys().toString('base64') });
  const key = sessionKey(eph.computeSecret(Buffer.from(peerEph['payload'] as string, 'base64')));
  ws.send({ type: 'data', payload: seal(key, JSON.stringify({ name: 'controller-device' })) });
  const identity = open(key, (await read(ws))['payload'] as string);
  const confirmation = await read(ws);
  ws.close();
  return { identity, confirmed: confirmation['payload'] === 'sas_confirmed' };
}

it('an amesh-style target and controller pair, exchange keys and confirm through the relay', async () => {
  const { url, relay } = await startRelay();
  const targetDone = target(url, '482916');
  // The controller types the code once the target shows it.
  await eventually(() => relay.sessions === 1);
  const [targetSaw, controllerSaw] = await Promise.all([targetDone, controller(url, '482916')]);
  expect(JSON.parse(targetSaw)).toEqual({ name: 'controller-device' });
  expect(controllerSaw.confirmed).toBe(true);
  expect(JSON.parse(controllerSaw.identity)).toEqual({ name: 'target-device' });
  await eventually(() => relay.sessions === 0 && relay.connections === 0);
});

it('the amesh error paths: a wrong code reads as "Relay error: otc_not_found"', async () => {
  const { url } = await startRelay();
  await expect(controller(url, '000000')).rejects.toThrow('Relay error: otc_not_found');
});
