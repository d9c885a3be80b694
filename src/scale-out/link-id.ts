import { randomBytes } from 'node:crypto';

/** A random id for a link between instances, or for an instance itself. */
export function linkId(): string {
  return randomBytes(12).toString('base64url');
}
