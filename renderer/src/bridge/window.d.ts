/** `window.ngrokd`: set by the desktop shell's preload, absent in browser mode. */
import type { NgrokdBridge } from '../../../main/common/bridge.ts';

declare global {
  interface Window {
    /** Set by the desktop shell's preload; absent in browser mode. */
    ngrokd?: NgrokdBridge;
  }
}
