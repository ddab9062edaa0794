/**
 * How a problem is shown on a graphical surface (the window, the browser UI, the tray): a plain
 * title, one sentence a desktop user can act on, the action the app itself offers (a button, a menu
 * item), and the technical details (the full message with its values, ngrok codes) kept behind
 * "Details". The CLI and `status` show the error's own message and fix, written for a terminal.
 * One table, so every graphical surface says the same thing.
 */
import { ERROR_CODES, type ErrorCode, type UserFacingError } from './errors.ts';

/** What the app can do about a problem, as a button or a menu item. */
export type ProblemActionKind =
  'change-api-key' | 'sign-out' | 'choose-ca-file' | 'install-helper' | 'open-settings' | 'open-dashboard';

export interface ProblemAction {
  kind: ProblemActionKind;
  /** The button or menu item label, e.g. "Change API key…". */
  label: string;
}

export type Surface = 'desktop' | 'browser';

export interface ProblemPresentation {
  code: ErrorCode;
  /** Plain words, no codes: "ngrok API key rejected". */
  title: string;
  /** What to do, naming only what this surface has. */
  summary: string;
  /** The app's own way to fix it, when there is one on this surface. */
  action: ProblemAction | null;
  /** Everything technical (message, ngrok code, fix as written for the CLI), for "Details". */
  details: string;
}

export const ACTION_LABELS: Readonly<Record<ProblemActionKind, string>> = {
  'change-api-key': 'Change API key…',
  'sign-out': 'Sign out',
  'choose-ca-file': 'Choose CA file…',
  'install-helper': 'Install helper…',
  'open-settings': 'Open Settings',
  'open-dashboard': 'Open ngrok dashboard',
};

interface Advice {
  summary: string;
  action?: ProblemActionKind;
  /** The action exists only in the desktop app (the browser gets the summary alone). */
  desktopOnly?: boolean;
  /** What the browser UI says instead, when the summary names a desktop-only action. */
  browserSummary?: string;
}

/** Per code, what a desktop user reads; codes not listed fall back to the error's own fix. */
const ADVICE: Partial<Record<ErrorCode, Advice>> = {
  API_KEY_MISSING: { summary: 'Connect your ngrok account with an API key.', action: 'change-api-key' },
  API_AUTH: {
    summary: 'ngrok did not accept the API key. Enter a valid key from the ngrok dashboard.',
    action: 'change-api-key',
  },
  PLAN_GATE: {
    summary: "Kubernetes bindings are not enabled on this account's plan.",
    action: 'open-dashboard',
  },
  RATE_LIMITED: { summary: 'ngrok asked to slow down; the app retries on its own.' },
  API_THROTTLED: { summary: 'Requests are spaced out to stay under ngrok’s limit; nothing to do.' },
  API_UNAVAILABLE: { summary: 'Check your internet connection; the app keeps retrying.' },
  CERT_RENEWAL: { summary: 'The app keeps retrying. If it does not recover, sign out and in again.' },
  INGRESS_UNTRUSTED: {
    summary: 'Choose the CA certificate file (PEM) that signs the ngrok ingress.',
    action: 'choose-ca-file',
    desktopOnly: true,
    browserSummary: 'Set the ingress CA file in Settings.',
  },
  CLIENT_CERT_REJECTED: {
    summary: 'The ingress refused this machine’s certificate. Sign out and connect again.',
    action: 'sign-out',
  },
  INGRESS_UNREACHABLE: {
    summary: 'Check your internet connection, VPN or firewall; the app keeps retrying.',
  },
  INGRESS_RESET: { summary: 'A connection was cut on the way. Retry; if it keeps happening, check proxies.' },
  SUBNET_INVALID: {
    summary: 'Choose a private subnet (inside 10/8, 172.16/12, 192.168/16 or 100.64/10).',
    action: 'open-settings',
  },
  SUBNET_CONFLICT: { summary: 'Choose a subnet no other network here uses.', action: 'open-settings' },
  SUBNET_EXHAUSTED: { summary: 'Choose a larger subnet.', action: 'open-settings' },
  HELPER_MISSING: {
    summary: 'Install the helper once (one password prompt) to use stable addresses and port 80.',
    action: 'install-helper',
    desktopOnly: true,
    browserSummary: 'Install the helper from the desktop app, or run the daemon as root.',
  },
  NOT_RUNNING: { summary: 'The ngrokd daemon stopped. Start it again.' },
};

export function presentProblem(error: UserFacingError, surface: Surface): ProblemPresentation {
  const advice = ADVICE[error.code];
  const offered = advice?.action !== undefined && (surface === 'desktop' || advice.desktopOnly !== true);
  const summary =
    advice === undefined
      ? error.fix
      : surface === 'browser' && advice.desktopOnly === true
        ? (advice.browserSummary ?? advice.summary)
        : advice.summary;
  const details = [
    error.message,
    error.ngrokCode === undefined ? null : `ngrok code: ${error.ngrokCode}`,
    `code: ${error.code}`,
    `fix: ${error.fix}`,
    error.at === undefined ? null : `seen: ${error.at}`,
  ]
    .filter((line) => line !== null)
    .join('\n');
  return {
    code: error.code,
    title: ERROR_CODES[error.code],
    summary,
    action:
      offered && advice?.action !== undefined
        ? { kind: advice.action, label: ACTION_LABELS[advice.action] }
        : null,
    details,
  };
}
