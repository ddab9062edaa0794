import type { ReactElement, Ref } from 'react';

/**
 * An on/off switch: a real button with role="switch", so Space/Enter and screen readers just work.
 * Its name stays the same whatever the state (aria-checked says the state). A disabled switch is
 * aria-disabled, not `disabled`, so it keeps the focus while a command runs. A switch whose state
 * is unknown keeps its position but loses its colour: a green switch would claim "On".
 */
export function Switch(props: {
  checked: boolean;
  label: string;
  onChange: (checked: boolean) => void;
  disabled?: boolean;
  /** The state shown is only the last known one (the link to the daemon is lost): drawn grey. */
  unknown?: boolean;
  describedBy?: string;
  ref?: Ref<HTMLButtonElement>;
  /** In a list with one tab stop (roving tabindex), -1 for rows that are not the active one. */
  tabIndex?: number;
}): ReactElement {
  return (
    <button
      type="button"
      role="switch"
      className={props.unknown === true ? 'switch switch-unknown' : 'switch'}
      ref={props.ref}
      aria-checked={props.checked}
      aria-label={props.label}
      aria-disabled={props.disabled === true ? true : undefined}
      aria-describedby={props.describedBy}
      tabIndex={props.tabIndex}
      onClick={() => {
        if (props.disabled !== true) props.onChange(!props.checked);
      }}
    >
      <span className="switch-thumb" />
    </button>
  );
}
