import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { StepResult } from './report.js';
import type { Target } from './network.js';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** One GET on its own connection (no agent: each probe is a separate client). */
export function get(
  target: Target,
  path: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<HttpAnswer> {
  const request = target.secure ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path,
        headers,
        agent: false,
        timeout: timeoutMs,
        ...(isIP(target.hostname) === 0 ? { servername: target.hostname } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < 64 * 1024) text += chunk;
        });
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: kept as text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

const field = (body: unknown, name: string): unknown =>
  typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;

export function healthVerdict(path: string, answer: HttpAnswer | Error): StepResult {
  if (answer instanceof Error) {
    return { step: 'health', status: 'fail', summary: `GET ${path} failed: ${answer.message}` };
  }
  const status = field(answer.body, 'status');
  if (answer.status === 200 && status === 'ok') {
    const version = field(answer.body, 'version');
    return {
      step: 'health',
      status: 'pass',
      summary: `200 ok${typeof version === 'string' ? `, version ${version}` : ''}, ${String(field(answer.body, 'sessions'))} sessions`,
    };
  }
  return {
    step: 'health',
    status: 'fail',
    summary: `GET ${path} answered ${answer.status}`,
    hint:
      answer.status === 404
        ? 'no relay health endpoint next to the given path: wrong host, or the proxy routes only part of the relay'
        : answer.status >= 500
          ? 'the proxy in front cannot reach the relay, or the relay is failing'
          : 'this does not look like a pairing relay',
  };
}

export function readyVerdict(path: string, answer: HttpAnswer | Error): StepResult {
  if (answer instanceof Error) {
    return { step: 'ready', status: 'fail', summary: `GET ${path} failed: ${answer.message}` };
  }
  const status = field(answer.body, 'status');
  if (answer.status === 200) {
    const detail =
      status === 'degraded' ? ` (degraded: redis ${String(field(answer.body, 'redis'))})` : '';
    return { step: 'ready', status: 'pass', summary: `200 ${String(status)}${detail}` };
  }
  if (answer.status === 404) {
    return {
      step: 'ready',
      status: 'skip',
      summary: `no ${path} (not a pairing-relay: amesh's relay has none)`,
    };
  }
  return {
    step: 'ready',
    status: 'fail',
    summary: `${answer.status} ${String(status ?? '')}`.trim(),
    hint:
      status === 'draining'
        ? 'the relay is shutting down and takes no new pairings'
        : 'the relay is up but not ready to pair (see the body and its logs)',
  };
}
