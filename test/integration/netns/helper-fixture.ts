/** What the helper scenario sets up, shared by its two processes. */
export const SCENARIO_INTERFACE = { name: 'ngrokd0', subnet: '10.107.0.0/16' };
export const SCENARIO_HOSTS = [
  { ip: '10.107.0.2', hostname: 'my-api.ngrok.app' },
  { ip: '10.107.0.3', hostname: 'web.prod' },
];
/** The unprivileged user the helper is "installed for" in the scenario (needs no passwd entry). */
export const ALLOWED_UID = 4242;
export const OTHER_UID = 65534;
