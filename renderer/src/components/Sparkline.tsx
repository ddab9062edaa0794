import type { ReactElement } from 'react';
import { formatRate } from '../format.ts';

/** A tiny line-and-area chart of recent bytes per second; the scale is the series' own peak. */
export function Sparkline(props: {
  values: readonly number[];
  width: number;
  height: number;
  label: string;
}): ReactElement {
  const { values, width, height } = props;
  const peak = Math.max(...values, 0);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const y = (v: number): number => (peak <= 0 ? height - 1 : height - 1 - (v / peak) * (height - 3));
  const line = values
    .map((v, i) => `${i === 0 ? 'M' : 'L'}${(i * step).toFixed(1)} ${y(v).toFixed(1)}`)
    .join(' ');
  const area = `${line} L${width} ${height} L0 ${height} Z`;
  return (
    <svg
      className={peak > 0 ? 'sparkline' : 'sparkline sparkline-idle'}
      viewBox={`0 0 ${width} ${height}`}
      width={width}
      height={height}
      role="img"
      aria-label={`${props.label}: peak ${formatRate(peak)} in the last 3 minutes`}
      preserveAspectRatio="none"
    >
      <path className="sparkline-area" d={area} />
      <path className="sparkline-line" d={line} />
    </svg>
  );
}
