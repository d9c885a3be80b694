/**
 * What a test client received, read in order: next() takes the oldest item or
 * waits for the next one, and rejects after timeoutMs so a hang fails the test
 * instead of stalling it. Shared by the ws client (relay.ts) and the raw one
 * (raw-ws.ts).
 */
export interface Inbox<T> {
  /** Hands `item` to the oldest waiting next(), or keeps it for the next call. */
  push(item: T): void;
  next(timeoutMs?: number): Promise<T>;
}

/** `what` names an item in the timeout error: "no message within 3000 ms". */
export function inbox<T>(what: string): Inbox<T> {
  const queue: T[] = [];
  const waiters: Array<(item: T) => void> = [];
  return {
    push(item) {
      const waiter = waiters.shift();
      if (waiter) waiter(item);
      else queue.push(item);
    },
    next(timeoutMs = 3000) {
      if (queue.length > 0) return Promise.resolve(queue.shift()!);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(settle);
          if (i !== -1) waiters.splice(i, 1);
          reject(new Error(`no ${what} within ${timeoutMs} ms`));
        }, timeoutMs);
        const settle = (item: T): void => {
          clearTimeout(timer);
          resolve(item);
        };
        waiters.push(settle);
      });
    },
  };
}
