/** One probe's verdict. */
export interface StepResult {
  step: string;
  status: 'pass' | 'fail' | 'skip';
  /** One line: what was seen. */
  summary: string;
  /** For a failure: what it most likely means and what to change. */
  hint?: string;
  ms?: number;
}

export interface CheckReport {
  /** The URL checked, without its query (it may hold a token). */
  url: string;
  ok: boolean;
  steps: StepResult[];
}

const LABEL = { pass: 'ok  ', fail: 'FAIL', skip: 'skip' } as const;

/** Plain lines, one per step, a hint under each failure, a total last. */
export function formatText(report: CheckReport): string {
  const width = Math.max(...report.steps.map((s) => s.step.length));
  const lines = [`pairing-relay check ${report.url}`];
  for (const s of report.steps) {
    lines.push(`  ${LABEL[s.status]}  ${s.step.padEnd(width)}  ${s.summary}`);
    if (s.hint !== undefined) lines.push(`        ${' '.repeat(width)}  -> ${s.hint}`);
  }
  const failed = report.steps.filter((s) => s.status === 'fail').length;
  const passed = report.steps.filter((s) => s.status === 'pass').length;
  lines.push(
    failed === 0 ? `all ${passed} checks passed` : `${failed} of ${passed + failed} checks failed`,
  );
  return lines.join('\n') + '\n';
}

export function formatJson(report: CheckReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}
