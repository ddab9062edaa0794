import { useState, type ReactElement, type ReactNode, type Ref } from 'react';
import type { DesktopAction, Settings } from '../../../../main/common/contract.ts';
import type { NgrokdBridge } from '../../../../main/common/bridge.ts';
import { plainText, type Surface } from '../../../../main/common/presentation.ts';
import { asUserFacing } from '../../bridge/user-facing.ts';
import { caPathError } from '../../settings-form.ts';
import { TextField } from './TextField.tsx';

/**
 * Extra CA certificates for the ingress: the desktop app opens a file dialog; the browser UI takes
 * a path (it cannot read the user's files). The file in use is shown, and can be cleared.
 */
export function IngressCaSection(props: {
  bridge: NgrokdBridge;
  settings: Settings;
  surface: Surface;
  onSettings: (s: Settings) => void;
  desktopAction: (action: DesktopAction) => Promise<void>;
  inputRef: Ref<HTMLInputElement & HTMLTextAreaElement>;
  /** The outcome of this section's desktop action. */
  children?: ReactNode;
}): ReactElement {
  const { bridge, settings } = props;
  const [path, setPath] = useState('');
  const [error, setError] = useState<string | null>(null);

  const use = async (next: string | null): Promise<void> => {
    const problem = next === null ? null : caPathError(next);
    setError(problem);
    if (problem !== null) return;
    try {
      const saved = await bridge.invoke('updateSettings', { ingress_ca: next === null ? null : next.trim() });
      props.onSettings(saved);
      setPath('');
    } catch (err) {
      const e = asUserFacing(err);
      setError(`${plainText(e.message)}. ${plainText(e.fix)}`.replace(/^./, (c) => c.toUpperCase()));
    }
  };

  return (
    <section className="group" aria-labelledby="ca-title">
      <h3 className="group-title" id="ca-title">
        Ingress CA certificate
      </h3>
      <p className="section-line">
        In use:{' '}
        {settings.ingress_ca === null ? (
          'none (the system’s roots and ngrok’s CA)'
        ) : (
          <span className="mono">{settings.ingress_ca}</span>
        )}
      </p>
      {props.surface === 'browser' && (
        <TextField
          id="ingress-ca"
          label="CA file path"
          mono
          placeholder="/etc/ssl/certs/my-ca.pem"
          value={path}
          onChange={(v) => {
            setPath(v);
            setError(null);
          }}
          error={error}
          help="A PEM file on the machine running ngrokd, for a proxy or private CA that signs the ingress."
          inputRef={props.inputRef}
        />
      )}
      <div className="section-actions">
        {props.surface === 'desktop' ? (
          <button
            type="button"
            className="button button-small"
            onClick={() => void props.desktopAction('choose-ca-file')}
          >
            Choose CA file…
          </button>
        ) : (
          <button type="button" className="button button-small" onClick={() => void use(path)}>
            Use this file
          </button>
        )}
        {settings.ingress_ca !== null && (
          <button type="button" className="button button-small button-quiet" onClick={() => void use(null)}>
            Clear
          </button>
        )}
      </div>
      {props.surface === 'desktop' && error !== null && <p className="field-error">{error}</p>}
      {props.children}
    </section>
  );
}
