import { useCallback, useEffect, useRef, useState } from 'react';

export interface CopyNotice {
  /** Which button asked (e.g. `hostname:http://web.prod`), so it can show its own check mark. */
  source: string;
  message: string;
  ok: boolean;
  seq: number;
}

const NOTICE_MS = 1800;

/** Copy text to the clipboard and keep a short-lived notice for the toast and the button. */
export function useCopy(): {
  notice: CopyNotice | null;
  copy: (text: string, source: string) => Promise<void>;
} {
  const [notice, setNotice] = useState<CopyNotice | null>(null);
  const seq = useRef(0);
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const copy = useCallback(async (text: string, source: string) => {
    let next: Omit<CopyNotice, 'seq'>;
    try {
      await navigator.clipboard.writeText(text);
      next = { source, message: `Copied ${text}`, ok: true };
    } catch (err) {
      next = {
        source,
        message: `Could not copy: ${err instanceof Error ? err.message : String(err)}`,
        ok: false,
      };
    }
    seq.current++;
    setNotice({ ...next, seq: seq.current });
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => setNotice(null), NOTICE_MS);
  }, []);
  return { notice, copy };
}
