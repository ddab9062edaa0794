/**
 * `doctor`'s report as text: the CLI prints it and the window's "Copy report" copies it, so a
 * report pasted into an issue reads the same wherever it came from.
 */
import type { DoctorReport, DoctorStatus } from './contract.ts';

export function hasFailure(report: DoctorReport): boolean {
  return report.checks.some((c) => c.status === 'fail');
}

/** The report as text, one check per line with its fix indented below. */
export function formatDoctor(report: DoctorReport): string {
  const mark: Record<DoctorStatus, string> = { pass: 'ok  ', warn: 'warn', fail: 'FAIL' };
  const lines = report.checks.flatMap((c) => [
    `${mark[c.status]}  ${c.id.padEnd(12)} ${c.message}`,
    ...(c.fix === null || c.status === 'pass' ? [] : [`      ${' '.repeat(12)} → ${c.fix}`]),
  ]);
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  lines.push(
    '',
    failed === 0
      ? `No failures${warned === 0 ? '' : `, ${warned} warning(s)`}.`
      : `${failed} check(s) failed.`,
  );
  return lines.join('\n');
}
