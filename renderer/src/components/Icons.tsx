/** The few glyphs the UI uses, drawn inline so nothing is fetched and the CSP stays strict. */
import type { ReactElement, SVGProps } from 'react';

type IconProps = SVGProps<SVGSVGElement>;

function Icon({ children, ...props }: IconProps & { children: ReactElement | ReactElement[] }): ReactElement {
  return (
    <svg
      viewBox="0 0 16 16"
      width="16"
      height="16"
      fill="none"
      stroke="currentColor"
      strokeWidth="1.5"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
      {...props}
    >
      {children}
    </svg>
  );
}

export const CopyIcon = (p: IconProps): ReactElement => (
  <Icon {...p}>
    <rect x="5.5" y="5.5" width="8" height="8" rx="1.5" />
    <path d="M10.5 3.5v-.5a1.5 1.5 0 0 0-1.5-1.5H4A1.5 1.5 0 0 0 2.5 3v5A1.5 1.5 0 0 0 4 9.5h.5" />
  </Icon>
);

export const LinkIcon = (p: IconProps): ReactElement => (
  <Icon {...p}>
    <path d="M6.5 9.5a2.5 2.5 0 0 0 3.5 0l2.5-2.5a2.5 2.5 0 0 0-3.5-3.5l-.75.75" />
    <path d="M9.5 6.5a2.5 2.5 0 0 0-3.5 0L3.5 9a2.5 2.5 0 0 0 3.5 3.5l.75-.75" />
  </Icon>
);

export const CheckIcon = (p: IconProps): ReactElement => (
  <Icon {...p}>
    <path d="M3.5 8.5l3 3 6-7" />
  </Icon>
);

/** A cog with teeth (after Feather's "settings", MIT), which reads as settings at 16 px. */
export const GearIcon = (p: IconProps): ReactElement => (
  <Icon viewBox="0 0 24 24" strokeWidth="2" {...p}>
    <circle cx="12" cy="12" r="3" />
    <path d="M19.4 15a1.65 1.65 0 0 0 .33 1.82l.06.06a2 2 0 1 1-2.83 2.83l-.06-.06a1.65 1.65 0 0 0-1.82-.33 1.65 1.65 0 0 0-1 1.51V21a2 2 0 1 1-4 0v-.09A1.65 1.65 0 0 0 9 19.4a1.65 1.65 0 0 0-1.82.33l-.06.06a2 2 0 1 1-2.83-2.83l.06-.06a1.65 1.65 0 0 0 .33-1.82 1.65 1.65 0 0 0-1.51-1H3a2 2 0 1 1 0-4h.09A1.65 1.65 0 0 0 4.6 9a1.65 1.65 0 0 0-.33-1.82l-.06-.06a2 2 0 1 1 2.83-2.83l.06.06a1.65 1.65 0 0 0 1.82.33H9a1.65 1.65 0 0 0 1-1.51V3a2 2 0 1 1 4 0v.09a1.65 1.65 0 0 0 1 1.51 1.65 1.65 0 0 0 1.82-.33l.06-.06a2 2 0 1 1 2.83 2.83l-.06.06a1.65 1.65 0 0 0-.33 1.82V9a1.65 1.65 0 0 0 1.51 1H21a2 2 0 1 1 0 4h-.09a1.65 1.65 0 0 0-1.51 1z" />
  </Icon>
);

export const BackIcon = (p: IconProps): ReactElement => (
  <Icon {...p}>
    <path d="M10 3.5L5.5 8l4.5 4.5" />
  </Icon>
);

export const SearchIcon = (p: IconProps): ReactElement => (
  <Icon {...p}>
    <circle cx="7" cy="7" r="4.25" />
    <path d="M10.25 10.25L13.5 13.5" />
  </Icon>
);

export const AlertIcon = (p: IconProps): ReactElement => (
  <Icon {...p}>
    <path d="M8 1.75L14.5 13.5h-13z" />
    <path d="M8 6.25v3.25" />
    <path d="M8 11.6v.05" strokeWidth="2" />
  </Icon>
);

export const ArrowDownIcon = (p: IconProps): ReactElement => (
  <Icon {...p}>
    <path d="M8 3v10M4 9l4 4 4-4" />
  </Icon>
);

export const ArrowUpIcon = (p: IconProps): ReactElement => (
  <Icon {...p}>
    <path d="M8 13V3M4 7l4-4 4 4" />
  </Icon>
);

export const PowerIcon = (p: IconProps): ReactElement => (
  <Icon {...p}>
    <path d="M8 1.75v5.5" />
    <path d="M4.6 3.9a5.25 5.25 0 1 0 6.8 0" />
  </Icon>
);

export const KeyIcon = (p: IconProps): ReactElement => (
  <Icon {...p}>
    <circle cx="5.5" cy="10.5" r="3" />
    <path d="M7.7 8.3L13.5 2.5M11.5 4.5l1.5 1.5M9.75 6.25l1.25 1.25" />
  </Icon>
);

/** The app mark: a local address joined to a remote endpoint. */
export const PinIcon = (p: IconProps): ReactElement => (
  <Icon {...p}>
    <path d="M6 2.5h4l-.5 4 2 2v1h-7v-1l2-2z" />
    <path d="M8 9.5v4" />
  </Icon>
);

export const RequestsIcon = (p: IconProps): ReactElement => (
  <Icon {...p}>
    <path d="M2.5 4h2M2.5 8h2M2.5 12h2M6.5 4h7M6.5 8h7M6.5 12h7" />
  </Icon>
);

export function Logo({ size = 24 }: { size?: number }): ReactElement {
  return (
    <svg viewBox="0 0 32 32" width={size} height={size} aria-hidden="true" focusable="false" className="logo">
      <rect width="32" height="32" rx="8" className="logo-tile" />
      <circle cx="10.5" cy="16" r="3.5" className="logo-dot" />
      <circle cx="21.5" cy="16" r="3.5" className="logo-ring" />
      <path d="M14 16h4" className="logo-link" />
    </svg>
  );
}
