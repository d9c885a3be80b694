/**
 * Lines to stdout/stderr, and the host name for log lines, without node:fs
 * or node:os under Bun: loading those two costs a Bun process ~5 MB of RSS
 * and several ms of cold start, while Bun's console writes straight to the
 * descriptor and is flushed by process.exit().
 */
const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined';
const fs = isBun ? undefined : await import('node:fs');
// Containers (Docker, Kubernetes) export HOSTNAME as the host name.
const os = isBun && process.env['HOSTNAME'] ? undefined : await import('node:os');

export const HOST_NAME: string = os?.hostname() ?? process.env['HOSTNAME'] ?? '';

/** One chunk of text, synchronously, in order; `text` ends with a newline. */
export function writeFd(fd: 1 | 2, text: string): void {
  if (fs === undefined) {
    // console.log/error add the newline themselves.
    (fd === 1 ? console.log : console.error)(text.endsWith('\n') ? text.slice(0, -1) : text);
    return;
  }
  // A pipe that is momentarily full answers EAGAIN: try again.
  for (let tries = 0; ; tries++) {
    try {
      fs.writeSync(fd, text);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || tries > 1000) return;
    }
  }
}

/**
 * Whether stdout is a terminal, for `logFormat: 'auto'`. On Node, a
 * character device (the one other that stdout meets is /dev/null, where the
 * format does not matter); not process.stdout.isTTY, which builds a stream.
 * On Bun, its tty binding: node:tty or node:fs would cost every start ~10 ms
 * and 5-8 MB of RSS (measured), this nothing.
 */
export function stdoutIsTerminal(): boolean {
  try {
    if (fs !== undefined) return fs.fstatSync(1).isCharacterDevice();
    const binding = (
      process as unknown as { binding(name: string): { isTTY(fd: number): unknown } }
    ).binding('tty_wrap');
    return binding.isTTY(1) === true;
  } catch {
    return false;
  }
}
