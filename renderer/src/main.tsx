import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { createHttpBridge } from './bridge/http-bridge.ts';
import './styles/app.css';

// The desktop shell's preload provides the bridge; otherwise this is browser mode.
const bridge = window.ngrokd ?? createHttpBridge();

createRoot(document.getElementById('root') as HTMLElement).render(
  <StrictMode>
    <App bridge={bridge} />
  </StrictMode>,
);
