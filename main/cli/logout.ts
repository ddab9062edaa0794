/** `ngrokd logout` when no daemon is running: delete the operator and the local credentials. */
import { NgrokApi } from '../engine/api/ngrok-api.ts';
import { CredentialStore } from '../engine/api/credential-store.ts';
import { Registration } from '../engine/api/registration.ts';
import { NgrokdError } from '../common/errors.ts';
import type { ResolvedConfig } from '../engine/config.ts';

export async function logoutOffline(config: ResolvedConfig): Promise<boolean> {
  if (config.apiKey === undefined)
    throw new NgrokdError(
      'API_KEY_MISSING',
      'logout needs the ngrok API key to delete the registration',
      'Set NGROK_API_KEY.',
    );
  const api = new NgrokApi({ baseUrl: config.api.url, apiKey: config.apiKey });
  return new Registration({ api, store: new CredentialStore(config.stateDir) }).logout();
}
