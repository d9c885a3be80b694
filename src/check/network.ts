import { lookup } from 'node:dns/promises';
import { connect as tcpConnect, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { StepResult } from './report.js';

export interface Target {
  /** ws: or wss: */
  secure: boolean;
  hostname: string;
  port: number;
}

const DAY_MS = 86_400_000;
const elapsed = (t0: number): number => Math.round(performance.now() - t0);

export async function checkDns(
  target: Target,
): Promise<{ result: StepResult; address?: string | undefined }> {
  const t0 = performance.now();
  try {
    const all = await lookup(target.hostname, { all: true });
    const addresses = all.map((a) => a.address);
    return {
      result: {
        step: 'dns',
        status: 'pass',
        summary: `${target.hostname} -> ${addresses.join(', ')}`,
        ms: elapsed(t0),
      },
      address: addresses[0],
    };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return {
      result: {
        step: 'dns',
        status: 'fail',
        summary: `${target.hostname} does not resolve (${code})`,
        hint: 'check the host name, and that its DNS record exists where this runs',
      },
    };
  }
}

export function checkTcp(target: Target, address: string, timeoutMs: number): Promise<StepResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: address, port: target.port });
    const done = (result: StepResult): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () =>
      done({
        step: 'tcp',
        status: 'fail',
        summary: `no answer from ${address}:${target.port} within ${timeoutMs} ms`,
        hint: 'a firewall drops the connection, or nothing listens there',
      }),
    );
    socket.once('connect', () =>
      done({
        step: 'tcp',
        status: 'pass',
        summary: `connected to ${address}:${target.port}`,
        ms: elapsed(t0),
      }),
    );
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done({
        step: 'tcp',
        status: 'fail',
        summary: `cannot connect to ${address}:${target.port} (${err.code ?? err.message})`,
        hint:
          err.code === 'ECONNREFUSED'
            ? 'nothing listens on that port: is the relay (or its proxy) running, on this port?'
            : 'the host is unreachable from here',
      }),
    );
  });
}

/** The certificate: trusted, valid for the host name, and how long it has left. */
export function checkTls(target: Target, address: string, timeoutMs: number): Promise<StepResult> {
  if (!target.secure) {
    return Promise.resolve({
      step: 'tls',
      status: 'skip',
      summary: 'ws:// is not encrypted (use wss:// in production)',
    });
  }
  const t0 = performance.now();
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: address,
      port: target.port,
      // SNI takes a name, never an address.
      ...(isIP(target.hostname) === 0 ? { servername: target.hostname } : {}),
      // Judged below, so an untrusted certificate is reported, not thrown.
      rejectUnauthorized: false,
    });
    const done = (result: StepResult): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () =>
      done({ step: 'tls', status: 'fail', summary: `no TLS handshake within ${timeoutMs} ms` }),
    );
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      const days = Math.floor((Date.parse(cert.valid_to) - Date.now()) / DAY_MS);
      if (!socket.authorized) {
        const why = String(socket.authorizationError);
        return done({
          step: 'tls',
          status: 'fail',
          summary: `certificate not accepted for ${target.hostname} (${why})`,
          hint:
            why === 'ERR_TLS_CERT_ALTNAME_INVALID'
              ? `the certificate does not name ${target.hostname}`
              : 'clients refuse this certificate: use one from a public CA, complete with its chain',
        });
      }
      done({
        step: 'tls',
        status: days < 0 ? 'fail' : 'pass',
        summary: `certificate valid for ${target.hostname}, expires in ${days} days (${socket.getProtocol() ?? 'TLS'})`,
        ms: elapsed(t0),
      });
    });
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done({
        step: 'tls',
        status: 'fail',
        summary: `TLS handshake failed (${err.code ?? err.message})`,
        hint: 'is this port serving TLS? ws:// if the relay itself is plain',
      }),
    );
  });
}
