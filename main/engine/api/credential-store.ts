/**
 * The registration on disk: `operator.json` (which operator we are) and `client.pem` (the mTLS
 * private key followed by its certificate) in a 0700 state directory, files 0600.
 *
 * Key and certificate share one file on purpose: a renewal replaces both with a single atomic
 * rename, so no crash can leave a key next to a certificate issued for another key. (Two files
 * would need an ordering protocol and a recovery rule on load; one file needs neither.) A pair that
 * still does not match when read, e.g. edited by hand, is treated as "no certificate", and the
 * registration asks ngrok for a new one.
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../../system/atomic-write.ts';
import { errorCode, NgrokdError } from '../../common/errors.ts';
import type { Logger } from '../log.ts';
import { certificateMatchesKey } from './csr.ts';

export const OPERATOR_FILE = 'operator.json';
export const CLIENT_PEM_FILE = 'client.pem';

const storedOperatorSchema = z.object({
  id: z.string().min(1),
  ingress_endpoint: z.string().catch(''),
  region: z.string().catch(''),
  created_at: z.string().catch(''),
});

export type StoredOperator = z.infer<typeof storedOperatorSchema>;

export interface StoredRegistration {
  operator: StoredOperator | undefined;
  /** Secret: never log it. */
  keyPem: string | undefined;
  /** Only set when it matches `keyPem`. May hold a chain; the first certificate is ours. */
  certPem: string | undefined;
}

const KEY_BLOCK = /-----BEGIN PRIVATE KEY-----[\s\S]*?-----END PRIVATE KEY-----/;
const CERT_BLOCKS = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

export interface CredentialStoreOptions {
  logger?: Logger;
}

export class CredentialStore {
  readonly dir: string;
  readonly #logger: Logger | undefined;

  constructor(dir: string, options: CredentialStoreOptions = {}) {
    this.dir = dir;
    this.#logger = options.logger;
  }

  get operatorPath(): string {
    return join(this.dir, OPERATOR_FILE);
  }

  get clientPemPath(): string {
    return join(this.dir, CLIENT_PEM_FILE);
  }

  /** What is on disk; missing, unreadable-as-data or mismatched pieces come back undefined. */
  async load(): Promise<StoredRegistration> {
    await this.#ensureDir();
    const result: StoredRegistration = { operator: undefined, keyPem: undefined, certPem: undefined };

    const operatorText = await this.#read(this.operatorPath);
    if (operatorText !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(operatorText);
      } catch {
        parsed = undefined;
      }
      const operator = storedOperatorSchema.safeParse(parsed);
      if (operator.success) result.operator = operator.data;
      else
        this.#logger?.warn(
          { path: this.operatorPath },
          'ignoring unreadable operator file; registering again',
        );
    }

    const pem = await this.#read(this.clientPemPath);
    if (pem !== undefined) {
      const key = KEY_BLOCK.exec(pem)?.[0];
      const certs = pem.match(CERT_BLOCKS);
      if (key !== undefined) result.keyPem = `${key}\n`;
      if (key !== undefined && certs !== null) {
        const certPem = `${certs.join('\n')}\n`;
        if (certificateMatchesKey(certPem, key)) result.certPem = certPem;
        else
          this.#logger?.warn(
            { path: this.clientPemPath },
            'client certificate does not match the key; requesting a new one',
          );
      }
    }
    return result;
  }

  async saveOperator(operator: StoredOperator): Promise<void> {
    await this.#write(this.operatorPath, `${JSON.stringify(operator, null, 2)}\n`);
  }

  /** Replace key and certificate together (registration and renewal). Refuses a mismatched pair. */
  async saveCredentials(keyPem: string, certPem: string): Promise<void> {
    const key = KEY_BLOCK.exec(keyPem)?.[0];
    if (key === undefined || !certificateMatchesKey(certPem, key)) {
      throw new Error('refusing to store a client certificate that does not match its key');
    }
    await this.#write(this.clientPemPath, `${key}\n${certPem.trim()}\n`);
  }

  /** Forget the registration (sign-out). Missing files are fine. */
  async clear(): Promise<void> {
    for (const path of [this.clientPemPath, this.operatorPath]) {
      try {
        await fsp.unlink(path);
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw this.#stateError(`could not remove ${path}`, err);
      }
    }
  }

  async #ensureDir(): Promise<void> {
    try {
      await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
      const stat = await fsp.stat(this.dir);
      if (!stat.isDirectory()) throw new Error('not a directory');
      if ((stat.mode & 0o077) !== 0) {
        await fsp.chmod(this.dir, 0o700);
        this.#logger?.warn(
          { path: this.dir, mode: (stat.mode & 0o777).toString(8) },
          'tightened state directory to 0700',
        );
      }
    } catch (err) {
      throw this.#stateError(`state directory ${this.dir} is not usable`, err);
    }
  }

  async #read(path: string): Promise<string | undefined> {
    try {
      await this.#tighten(path);
      return await fsp.readFile(path, 'utf8');
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return undefined;
      throw this.#stateError(`could not read ${path}`, err);
    }
  }

  async #write(path: string, data: string): Promise<void> {
    try {
      await this.#ensureDir();
      // The atomic writer keeps an existing file's mode; make sure that mode is 0600 first.
      await this.#tighten(path);
      await writeFileAtomic(path, data, { mode: 0o600 });
    } catch (err) {
      if (err instanceof NgrokdError) throw err;
      throw this.#stateError(`could not write ${path}`, err);
    }
  }

  /** A credential file readable by others is made 0600; a missing one is left missing. */
  async #tighten(path: string): Promise<void> {
    try {
      const stat = await fsp.stat(path);
      if ((stat.mode & 0o077) !== 0) await fsp.chmod(path, 0o600);
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err;
    }
  }

  #stateError(message: string, err: unknown): NgrokdError {
    const why = errorCode(err) ?? (err instanceof Error ? err.message : String(err));
    return new NgrokdError(
      'STATE_DIR',
      `${message} (${why})`,
      `Make sure ${this.dir} is a directory the ngrokd user can write, or set server.state_dir to one.`,
      { cause: err },
    );
  }
}
