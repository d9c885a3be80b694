import type { Metrics } from '../observe/metrics.js';
import type { Reply } from './reply.js';

const NOT_ALLOWED: Reply = { status: 405, headers: { allow: 'GET, HEAD' }, body: '' };
const FAILED: Reply = { status: 500, headers: {}, body: '' };

/** /metrics: the Prometheus text for GET and HEAD, 405 otherwise, 500 if it cannot be rendered. */
export async function metricsReply(
  metrics: Pick<Metrics, 'render'>,
  method: string,
): Promise<Reply> {
  if (method !== 'GET' && method !== 'HEAD') return NOT_ALLOWED;
  try {
    const { contentType, text } = await metrics.render();
    return {
      status: 200,
      headers: { 'content-type': contentType, 'cache-control': 'no-store' },
      body: text,
    };
  } catch {
    return FAILED;
  }
}
