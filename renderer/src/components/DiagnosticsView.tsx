/**
 * Help → Run diagnostics: `doctor`'s ordered checks, run when the view opens and again on demand,
 * each with its state in words (not only a colour), what was found and the fix. "Copy report"
 * copies the same text `npm run ngrokd -- doctor` prints, for a bug report or a colleague.
 */
import { useCallback, useEffect, useState, type ReactElement, type Ref } from 'react';
import type { DoctorReport, DoctorStatus } from '../../../main/common/contract.ts';
import type { NgrokdBridge } from '../../../main/common/bridge.ts';
import { formatDoctor } from '../../../main/common/doctor-report.ts';
import type { UserFacingError } from '../../../main/common/errors.ts';
import { asUserFacing } from '../bridge/user-facing.ts';
import { ErrorBanner } from './ErrorBanner.tsx';
import { BackIcon } from './Icons.tsx';

export interface DiagnosticsViewProps {
  bridge: NgrokdBridge;
  onBack: () => void;
  onCopy: (text: string, what: string) => void;
  titleRef?: Ref<HTMLHeadingElement>;
}

const STATUS_TEXT: Record<DoctorStatus, string> = { pass: 'OK', warn: 'Warning', fail: 'Failed' };

/** The check ids as a person reads them. */
const CHECK_NAMES: Record<string, string> = {
  config: 'Configuration',
  api: 'ngrok API',
  registration: 'Registration',
  certificate: 'Client certificate',
  ingress: 'Ingress',
  privilege: 'Privileges',
  interface: 'Interface',
  addresses: 'Addresses',
  hosts: 'Hosts file',
  resolve: 'Name resolution',
  listeners: 'Listeners',
  subnet: 'Subnet',
  hsts: 'Browsers (HSTS)',
  clock: 'Clock',
  daemon: 'Daemon',
};

export function summary(report: DoctorReport): string {
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  if (failed > 0) return `${failed} of ${report.checks.length} checks failed`;
  if (warned > 0)
    return `All ${report.checks.length} checks passed or warned: ${warned} warning${warned === 1 ? '' : 's'}`;
  return `All ${report.checks.length} checks passed`;
}

export function DiagnosticsView(props: DiagnosticsViewProps): ReactElement {
  const { bridge } = props;
  const [report, setReport] = useState<DoctorReport | null>(null);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<UserFacingError | null>(null);

  const runChecks = useCallback(async () => {
    setRunning(true);
    setError(null);
    try {
      setReport(await bridge.invoke('doctor', {}));
    } catch (err) {
      setError(asUserFacing(err));
    } finally {
      setRunning(false);
    }
  }, [bridge]);

  useEffect(() => {
    void runChecks();
  }, [runChecks]);

  return (
    <main className="main diagnostics" aria-labelledby="diagnostics-title">
      <div className="subheader">
        <button type="button" className="icon-button" aria-label="Back to endpoints" onClick={props.onBack}>
          <BackIcon />
        </button>
        <h2 id="diagnostics-title" tabIndex={-1} ref={props.titleRef}>
          Diagnostics
        </h2>
      </div>
      <div className="detail-actions">
        <button
          type="button"
          className="button button-small"
          aria-disabled={running ? true : undefined}
          onClick={() => {
            if (!running) void runChecks();
          }}
        >
          {running ? 'Running checks…' : 'Run again'}
        </button>
        <button
          type="button"
          className="button button-small"
          aria-disabled={report === null ? true : undefined}
          onClick={() => {
            if (report !== null) props.onCopy(formatDoctor(report), 'report');
          }}
        >
          Copy report
        </button>
      </div>
      {error !== null && <ErrorBanner error={error} />}
      <p role="status" className="muted diagnostics-summary">
        {report === null ? (running ? 'Running checks…' : '') : summary(report)}
      </p>
      {report !== null && (
        <ol className="check-list" aria-label="Checks">
          {report.checks.map((c) => (
            <li key={c.id} className={`check check-${c.status}`}>
              <span className={`check-status check-status-${c.status}`}>{STATUS_TEXT[c.status]}</span>
              <div className="check-body">
                <p className="check-name">{CHECK_NAMES[c.id] ?? c.id}</p>
                <p className="check-message">{c.message}</p>
                {c.fix !== null && c.status !== 'pass' && <p className="check-fix">{c.fix}</p>}
              </div>
            </li>
          ))}
        </ol>
      )}
    </main>
  );
}
