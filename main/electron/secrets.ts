/**
 * The ngrok API key at rest: encrypted by Electron's safeStorage (Keychain on macOS, libsecret or
 * KWallet on Linux) and written as base64 ciphertext to its own 0600 file. It is never written in
 * plain text, never logged, and never handed back to the renderer: only the engine gets it.
 */
import { chmod, readFile, rm } from 'node:fs/promises';
import type { SafeStorage } from 'electron';
import { writeFileAtomic } from '../system/atomic-write.ts';
import { NgrokdError, type UserFacingError } from '../common/errors.ts';

export type SafeStorageLike = Pick<
  SafeStorage,
  'isEncryptionAvailable' | 'encryptString' | 'decryptString' | 'getSelectedStorageBackend'
>;

export interface ApiKeyVaultOptions {
  safeStorage: SafeStorageLike;
  /** The ciphertext file, e.g. <userData>/api-key.enc. */
  path: string;
  platform?: NodeJS.Platform;
}

const ENV_FIX =
  'Unlock or install a keyring (GNOME Keyring or KWallet) and restart the app, or start it with NGROK_API_KEY set instead.';

export class ApiKeyVault {
  readonly path: string;
  readonly #safeStorage: SafeStorageLike;
  readonly #platform: NodeJS.Platform;
  #unreadable: UserFacingError | null = null;

  constructor(options: ApiKeyVaultOptions) {
    this.path = options.path;
    this.#safeStorage = options.safeStorage;
    this.#platform = options.platform ?? process.platform;
  }

  /** Encrypt and store. Refuses (never falls back to plain text) when no encryption is available. */
  async save(apiKey: string): Promise<void> {
    if (!this.#safeStorage.isEncryptionAvailable()) {
      throw new NgrokdError(
        'SECRET_STORAGE',
        'the API key was not saved: this system offers no OS keychain to encrypt it with',
        ENV_FIX,
      );
    }
    const ciphertext = this.#safeStorage.encryptString(apiKey).toString('base64');
    await writeFileAtomic(this.path, `${ciphertext}\n`, { mode: 0o600 });
    await chmod(this.path, 0o600); // an existing file keeps its mode in writeFileAtomic
    this.#unreadable = null;
  }

  /** The stored key, or undefined when there is none or it cannot be decrypted any more. */
  async load(): Promise<string | undefined> {
    let text: string;
    try {
      text = (await readFile(this.path, 'utf8')).trim();
    } catch {
      return undefined;
    }
    if (text === '') return undefined;
    try {
      return this.#safeStorage.decryptString(Buffer.from(text, 'base64'));
    } catch {
      this.#unreadable = {
        code: 'SECRET_STORAGE',
        message: `the saved API key in ${this.path} cannot be decrypted (the OS keychain changed or is locked)`,
        fix: 'Paste your API key again in the app, or unlock the keychain and restart.',
      };
      return undefined;
    }
  }

  async clear(): Promise<void> {
    await rm(this.path, { force: true });
    this.#unreadable = null;
  }

  /** A warning for status: the key cannot be read, or (Linux) it is only obfuscated, not encrypted. */
  problem(): UserFacingError | null {
    if (this.#unreadable !== null) return this.#unreadable;
    if (this.#platform !== 'linux') return null;
    if (!this.#safeStorage.isEncryptionAvailable()) {
      return {
        code: 'SECRET_STORAGE',
        message: 'no OS keychain is available, so the API key cannot be saved',
        fix: ENV_FIX,
      };
    }
    const backend = this.#safeStorage.getSelectedStorageBackend();
    if (backend !== 'basic_text') return null;
    return {
      code: 'SECRET_STORAGE',
      message:
        'the API key is stored with safeStorage backend "basic_text": obfuscated with a fixed password, not encrypted',
      fix: ENV_FIX,
    };
  }
}
