/**
 * A virtualised list: rows of one height (set in CSS, in rem, so it follows the font size and the
 * narrow layout; measured here from a probe), only those in view (plus a few) are in the DOM, so 10,000
 * endpoints scroll like ten. The list is one tab stop (the active row); arrows, Page Up/Down,
 * Home and End move between rows, Enter or Space copies the hostname.
 */
import {
  useCallback,
  useEffect,
  useImperativeHandle,
  useLayoutEffect,
  useRef,
  useState,
  type KeyboardEvent,
  type ReactElement,
  type Ref,
  type RefObject,
} from 'react';
import type { EndpointView } from '../../../main/common/contract.ts';
import type { TrafficHistory } from '../traffic.ts';
import { EndpointRow, type CopyWhat, type RowAction } from './EndpointRow.tsx';

/** What the filter box may do to the list: move the focus into it. */
export interface EndpointListHandle {
  focusFirst(): void;
}

/** Until the probe is measured: 3.75rem at the default 16 px. */
const FALLBACK_ROW_HEIGHT = 60;

/** The height of `.row-probe` (var(--row-height)), kept current through font and layout changes. */
function useMeasuredHeight(probe: RefObject<HTMLDivElement | null>): number {
  const [height, setHeight] = useState(FALLBACK_ROW_HEIGHT);
  useLayoutEffect(() => {
    const el = probe.current;
    if (el === null) return;
    const measure = (): void => setHeight(Math.max(1, Math.round(el.getBoundingClientRect().height)));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, [probe]);
  return height;
}

const OVERSCAN = 4;

export interface EndpointListProps {
  endpoints: readonly EndpointView[];
  history: TrafficHistory;
  now: number;
  /** Scroll back to the top and the first row when this changes (a new filter). */
  resetKey: string;
  copied: { url: string; what: CopyWhat } | null;
  onCopy: (endpoint: EndpointView, what: CopyWhat) => void;
  onAction?: (endpoint: EndpointView, action: RowAction) => void;
  label: string;
  handle?: Ref<EndpointListHandle>;
}

export function EndpointList(props: EndpointListProps): ReactElement {
  const { endpoints, history, now } = props;
  const viewport = useRef<HTMLDivElement>(null);
  const probe = useRef<HTMLDivElement>(null);
  const rowHeight = useMeasuredHeight(probe);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(400);
  const [active, setActive] = useState(0);
  const focusAfterRender = useRef(false);
  /** Bumped to render (and so focus) even when the active row stays the same. */
  const [, setFocusTick] = useState(0);
  /** Whether the viewport may be away from the top (kept from scroll events, never read from the DOM). */
  const scrolled = useRef(false);
  const count = endpoints.length;
  const activeIndex = Math.min(active, Math.max(0, count - 1));

  useLayoutEffect(() => {
    const el = viewport.current;
    if (el === null) return;
    setHeight(el.clientHeight);
    const observer = new ResizeObserver(() => setHeight(el.clientHeight));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  // A new filter starts at the top. Adjusted during render (no extra commit), and the DOM is
  // scrolled only when it is not at the top already: writing scrollTop forces a layout.
  const [resetKey, setResetKey] = useState(props.resetKey);
  if (resetKey !== props.resetKey) {
    setResetKey(props.resetKey);
    setActive(0);
    setScrollTop(0);
  }
  useLayoutEffect(() => {
    if (viewport.current !== null && scrolled.current) {
      viewport.current.scrollTop = 0;
      scrolled.current = false;
    }
  }, [resetKey]);

  useEffect(() => {
    if (!focusAfterRender.current) return;
    focusAfterRender.current = false;
    viewport.current
      ?.querySelector<HTMLButtonElement>(`[data-index="${activeIndex}"] .row-main`)
      ?.focus({ preventScroll: true });
  });

  const moveTo = (index: number): void => {
    const el = viewport.current;
    const next = Math.max(0, Math.min(count - 1, index));
    if (el !== null) {
      const top = next * rowHeight;
      if (top < el.scrollTop) el.scrollTop = top;
      else if (top + rowHeight > el.scrollTop + el.clientHeight)
        el.scrollTop = top + rowHeight - el.clientHeight;
      setScrollTop(el.scrollTop);
      scrolled.current = el.scrollTop > 0;
    }
    focusAfterRender.current = true;
    setActive(next);
    setFocusTick((t) => t + 1);
  };

  useImperativeHandle(props.handle, () => ({ focusFirst: () => moveTo(0) }));

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>): void => {
    const page = Math.max(1, Math.floor(height / rowHeight) - 1);
    const moves: Record<string, number> = {
      ArrowDown: activeIndex + 1,
      ArrowUp: activeIndex - 1,
      PageDown: activeIndex + page,
      PageUp: activeIndex - page,
      Home: 0,
      End: count - 1,
    };
    const target = moves[event.key];
    if (target === undefined || count === 0) return;
    event.preventDefault();
    moveTo(target);
  };

  const onFocusRow = useCallback((index: number) => setActive(index), []);

  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - OVERSCAN);
  const last = Math.min(count, Math.ceil((scrollTop + height) / rowHeight) + OVERSCAN);
  const indexes: number[] = [];
  // The active row stays mounted even when scrolled away, so Tab always lands on it.
  if (activeIndex < first && count > 0) indexes.push(activeIndex);
  for (let i = first; i < last; i++) indexes.push(i);
  if (activeIndex >= last && count > 0) indexes.push(activeIndex);

  return (
    <div
      className="list-viewport"
      ref={viewport}
      onScroll={(event) => {
        scrolled.current = event.currentTarget.scrollTop > 0;
        setScrollTop(event.currentTarget.scrollTop);
      }}
      onKeyDown={onKeyDown}
    >
      <div className="row-probe" ref={probe} aria-hidden="true" />
      <div className="list-spacer" role="list" aria-label={props.label} style={{ height: count * rowHeight }}>
        {indexes.map((i) => {
          const e = endpoints[i] as EndpointView;
          return (
            <EndpointRow
              key={e.url}
              endpoint={e}
              index={i}
              setSize={count}
              height={rowHeight}
              now={now}
              active={i === activeIndex}
              rate={history.rate(e.url, now)}
              points={history.points(e.url, now)}
              copied={props.copied?.url === e.url ? props.copied.what : null}
              onCopy={props.onCopy}
              {...(props.onAction === undefined ? {} : { onAction: props.onAction })}
              onFocusRow={onFocusRow}
            />
          );
        })}
      </div>
    </div>
  );
}
