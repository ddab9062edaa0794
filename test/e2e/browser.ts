/**
 * What the Chromium suites share: Debian's Chromium (never downloaded), where screenshots go, the
 * accessibility audit (axe-core, run in the page, failing on serious and critical violations) and
 * the page globals the page-side callbacks read.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';

const ROOT = new URL('../..', import.meta.url).pathname;
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/** Screenshots and reports: test/artifacts/e2e/, or the directory in NGROKD_E2E_ARTIFACTS. */
export const ARTIFACTS = process.env.NGROKD_E2E_ARTIFACTS || join(ROOT, 'test', 'artifacts', 'e2e');
export const STATIC_DIR = join(ROOT, 'renderer', 'dist');

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-domain-reliability',
  '--no-default-browser-check',
];

export function requireChromium(): void {
  assert.ok(
    existsSync(CHROMIUM),
    `Chromium is missing at ${CHROMIUM}: install Debian's package (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH. These tests never download a browser.`,
  );
  mkdirSync(ARTIFACTS, { recursive: true });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/**
 * The browser globals the page-side callbacks use. The root tsconfig has no DOM library (the
 * engine must not see one), so each callback casts `globalThis` to this; the cast is erased.
 */
export interface PageElement {
  getAttribute(name: string): string | null;
  hasAttribute(name: string): boolean;
  blur(): void;
  focus(): void;
  dispatchEvent(event: Event): boolean;
  closest(selector: string): PageElement | null;
  getBoundingClientRect(): { x: number; y: number; width: number; height: number };
  textContent: string | null;
  id: string;
  scrollTop: number;
  scrollWidth: number;
  scrollHeight: number;
  clientWidth: number;
  clientHeight: number;
}
export interface PageGlobals {
  document: {
    querySelector(selector: string): PageElement | null;
    querySelectorAll(selector: string): ArrayLike<PageElement>;
    activeElement: PageElement | null;
    body: { innerText: string };
    addEventListener(
      type: string,
      listener: (e: { violatedDirective: string; blockedURI: string; sourceFile: string }) => void,
    ): void;
  };
  navigator: { clipboard: { readText(): Promise<string> } };
  requestAnimationFrame(callback: () => void): number;
  getComputedStyle(el: PageElement): { display: string; fontSize: string; backgroundColor: string };
  innerWidth: number;
  HTMLInputElement: { prototype: object };
  cspViolations: string[];
  attackResults: string[];
  axe?: AxeApi;
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}
interface AxeApi {
  run(
    context: unknown,
    options: { resultTypes: string[]; rules: Record<string, { enabled: boolean }> },
  ): Promise<{ violations: AxeViolation[] }>;
}

const AXE_SOURCE = readFileSync(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/**
 * axe-core over the page as it is now; fails on any serious or critical violation, listing each
 * with its nodes. The source is evaluated through the DevTools protocol rather than added as a
 * script tag: the page's CSP (script-src 'self') rightly refuses inline scripts.
 */
export async function audit(page: Page, state: string): Promise<void> {
  const loaded = await page.evaluate(() => (globalThis as unknown as PageGlobals).axe !== undefined);
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as PageGlobals).axe as AxeApi;
    const result = await axe.run((globalThis as unknown as PageGlobals).document, {
      resultTypes: ['violations'],
      // Experimental in axe, and one of the issue's findings: a name that does not contain the visible text.
      rules: { 'label-content-name-mismatch': { enabled: true } },
    });
    return result.violations;
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.impact} ${v.id} (${v.help}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `axe-core in state "${state}": ${bad
      .flatMap((v) =>
        v.nodes.slice(0, 3).map((n) => `${v.id} ${n.target.join(' ')}: ${n.failureSummary ?? ''}`),
      )
      .join('\n')}`,
  );
}

/** A screenshot and an audit: every state the suites reach gets both. */
export async function capture(page: Page, state: string): Promise<void> {
  await screenshot(page, state);
  await audit(page, state);
}
