/**
 * The settings form's draft: what the fields hold, what changed, and why a field is not accepted.
 * Every rule is the contract's own schema (settingsPatch), so the form says exactly what the
 * engine would refuse, next to the field, before anything is sent.
 */
import { settingsPatch, type Settings, type SettingsPatch } from '../../main/common/contract.ts';

export interface Draft {
  poll_interval: string;
  selectors: string;
  subnet: string;
  interface_name: string;
  launch_at_login: boolean;
  notifications: boolean;
  traffic_title: boolean;
  check_updates: boolean;
}

/** The fields that can be wrong (the switches cannot). */
export type TextField = 'poll_interval' | 'selectors' | 'subnet' | 'interface_name';
export type FieldErrors = Partial<Record<TextField, string>>;

/** In the order they appear, so the first invalid one gets the focus. */
export const TEXT_FIELDS: readonly TextField[] = ['poll_interval', 'selectors', 'subnet', 'interface_name'];

export function draftOf(s: Settings): Draft {
  return {
    poll_interval: String(s.poll_interval),
    selectors: s.selectors.join('\n'),
    subnet: s.subnet,
    interface_name: s.interface_name,
    launch_at_login: s.launch_at_login,
    notifications: s.notifications,
    traffic_title: s.traffic_title === true,
    check_updates: s.desktop_info?.updates.enabled === true,
  };
}

export function selectorLines(text: string): string[] {
  return text
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Only what changed, so an untouched field never fails validation or needs a restart. */
export function patchOf(saved: Settings, d: Draft): SettingsPatch {
  const patch: SettingsPatch = {};
  if (d.poll_interval.trim() !== String(saved.poll_interval)) patch.poll_interval = Number(d.poll_interval);
  const selectors = selectorLines(d.selectors);
  if (selectors.join('\n') !== saved.selectors.join('\n')) patch.selectors = selectors;
  if (d.subnet.trim() !== saved.subnet) patch.subnet = d.subnet.trim();
  if (d.interface_name.trim() !== saved.interface_name) patch.interface_name = d.interface_name.trim();
  if (saved.desktop && d.launch_at_login !== saved.launch_at_login) patch.launch_at_login = d.launch_at_login;
  if (saved.desktop && d.notifications !== saved.notifications) patch.notifications = d.notifications;
  if (saved.traffic_title !== undefined && d.traffic_title !== saved.traffic_title)
    patch.traffic_title = d.traffic_title;
  const updates = saved.desktop_info?.updates;
  if (updates !== undefined && !updates.managed && d.check_updates !== updates.enabled)
    patch.check_updates = d.check_updates;
  return patch;
}

const shape = settingsPatch.shape;
const poll = shape.poll_interval.unwrap();

function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function firstIssue(result: {
  success: boolean;
  error?: { issues: readonly { message: string }[] };
}): string {
  return result.error?.issues[0]?.message ?? 'not allowed';
}

/** Why each changed field of `patch` is not accepted, naming the value and what is allowed. */
export function fieldErrors(patch: SettingsPatch, draft: Draft): FieldErrors {
  const errors: FieldErrors = {};
  if (patch.poll_interval !== undefined && !poll.safeParse(patch.poll_interval).success)
    errors.poll_interval = `“${draft.poll_interval.trim()}” is not allowed: enter ${poll.minValue} to ${(poll.maxValue ?? 0).toLocaleString('en-US')} seconds.`;
  if (patch.selectors !== undefined) {
    const lines = patch.selectors;
    const long = lines.findIndex((s) => !shape.selectors.unwrap().element.safeParse(s).success);
    if (lines.length === 0) errors.selectors = 'Enter at least one selector; “true” binds every endpoint.';
    else if (long >= 0)
      errors.selectors = `Line ${long + 1} is too long: a selector has at most 4,096 characters.`;
    else if (!shape.selectors.safeParse(lines).success)
      errors.selectors = `${lines.length} selectors are too many: at most 64 are allowed.`;
  }
  if (patch.subnet !== undefined) {
    const result = shape.subnet.safeParse(patch.subnet);
    if (!result.success) errors.subnet = sentence(firstIssue(result));
  }
  if (patch.interface_name !== undefined) {
    const result = shape.interface_name.safeParse(patch.interface_name);
    if (!result.success) errors.interface_name = `“${patch.interface_name}” ${firstIssue(result)}.`;
  }
  return errors;
}

/** Why a CA file path is not accepted before it is sent (the engine then checks the file itself). */
export function caPathError(path: string): string | null {
  const result = shape.ingress_ca.safeParse(path.trim());
  if (path.trim() === '') return 'Enter the path of a PEM file, such as /etc/ssl/certs/ngrok-ca.pem.';
  return result.success ? null : 'The path is too long: at most 4,096 characters.';
}
