import './zod-jitless.ts';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { createHttpBridge } from './bridge/http-bridge.ts';
import './styles/app.css';

// The desktop shell's preload provides the bridge; otherwise this is browser mode.
const surface = window.ngrokd === undefined ? 'browser' : 'desktop';
const bridge = window.ngrokd ?? createHttpBridge();
// The browser tab shows the window as a floating card; the desktop window is the panel itself.
document.documentElement.dataset.surface = surface;

createRoot(document.getElementById('root') as HTMLElement).render(
  <StrictMode>
    <App bridge={bridge} surface={surface} />
  </StrictMode>,
);
