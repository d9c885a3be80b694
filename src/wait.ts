/** Resolves once `done()` holds or the time is up; polls so it needs no events wired. */
export function waitFor(done: () => boolean, timeoutMs: number, everyMs = 25): Promise<boolean> {
  if (done()) return Promise.resolve(true);
  if (timeoutMs <= 0) return Promise.resolve(false);
  return new Promise((resolve) => {
    const deadline = Date.now() + timeoutMs;
    const timer = setInterval(() => {
      const ok = done();
      if (ok || Date.now() >= deadline) {
        clearInterval(timer);
        resolve(ok);
      }
    }, everyMs);
  });
}
