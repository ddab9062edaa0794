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
  /** A plainer title than the error's own, for this surface. */
  title?: string;
  summary: string;
  /** What the browser UI says (it has no desktop app around it). */
  browserSummary?: string;
  action?: ProblemActionKind;
  /** The action exists only in the desktop app (the browser gets the summary alone). */
  desktopOnly?: boolean;
  /** The action's label in the browser UI, when it differs (no file dialog there). */
  browserLabel?: string;
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
    browserSummary:
      'Enter the path of the CA certificate file (PEM) that signs the ngrok ingress in Settings.',
    browserLabel: 'Set CA file…',
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
  NOT_RUNNING: {
    title: 'Disconnected from ngrokd',
    summary:
      'The window lost its link to the ngrokd engine. Quit ngrokd from the menu bar and open it again.',
    browserSummary:
      'This page reconnects by itself while the daemon runs. If it stopped, start it again with “ngrokd daemon --ui” in a terminal and open the link it prints.',
  },
  UI_TOKEN: {
    title: 'This page has no ngrokd session',
    summary: 'Press Enter in the terminal running “ngrokd daemon --ui” for a new link, and open it.',
  },
  DESKTOP_ONLY: {
    summary: 'Only the ngrokd desktop app can do this; this is the daemon’s browser UI.',
  },
  PROTOCOL_ERROR: {
    title: 'The daemon did not understand the request',
    summary: 'The app and the ngrokd daemon may be different versions: update both to the same one.',
  },
};

/**
 * Terminal text made fit for a window: `commands` lose their backticks (shown in quotes instead),
 * so nothing on a graphical surface reads like a wire format.
 */
export function plainText(text: string): string {
  return text.replace(/`([^`]*)`/g, '“$1”').replace(/`/g, '');
}

/** "invalid params for updateSettings: <rules>": the rules alone, which is what a user can act on. */
const INVALID_PARAMS = /^invalid params for [A-Za-z]+: (.+)$/s;

export function presentProblem(error: UserFacingError, surface: Surface): ProblemPresentation {
  const advice = ADVICE[error.code];
  const offered = advice?.action !== undefined && (surface === 'desktop' || advice.desktopOnly !== true);
  const invalidParams = error.code === 'PROTOCOL_ERROR' ? INVALID_PARAMS.exec(error.message) : null;
  const summary =
    invalidParams !== null
      ? plainText(`${invalidParams[1] ?? ''}`)
      : advice === undefined
        ? plainText(error.fix)
        : surface === 'browser'
          ? (advice.browserSummary ?? advice.summary)
          : advice.summary;
  const details = [
    plainText(error.message),
    error.ngrokCode === undefined ? null : `ngrok code: ${error.ngrokCode}`,
    `code: ${error.code}`,
    // A protocol error's fix is written for programs that speak the protocol, not for people.
    error.code === 'PROTOCOL_ERROR' || error.fix === '' ? null : `fix: ${plainText(error.fix)}`,
    error.at === undefined ? null : `seen: ${error.at}`,
  ]
    .filter((line) => line !== null)
    .join('\n');
  const label =
    advice?.action === undefined
      ? null
      : surface === 'browser' && advice.browserLabel !== undefined
        ? advice.browserLabel
        : ACTION_LABELS[advice.action];
  return {
    code: error.code,
    title: invalidParams !== null ? 'Not accepted' : (advice?.title ?? ERROR_CODES[error.code]),
    summary,
    action: offered && advice?.action !== undefined && label !== null ? { kind: advice.action, label } : null,
    details,
  };
}
