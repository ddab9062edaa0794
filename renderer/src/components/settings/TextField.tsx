import type { ReactElement, ReactNode, Ref } from 'react';

/**
 * A labelled text field whose error sits under it: aria-invalid, and described by the error and
 * the help, so a screen reader reads why when the field gets the focus.
 */
export function TextField(props: {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  error: string | null | undefined;
  help?: ReactNode;
  mono?: boolean;
  multiline?: boolean;
  unit?: string;
  placeholder?: string;
  inputMode?: 'decimal' | 'text';
  inputRef?: Ref<HTMLInputElement & HTMLTextAreaElement>;
}): ReactElement {
  const errorId = `${props.id}-error`;
  const helpId = `${props.id}-help`;
  const describedBy =
    [props.error ? errorId : null, props.help === undefined ? null : helpId]
      .filter((x) => x !== null)
      .join(' ') || undefined;
  const common = {
    id: props.id,
    className: `input${props.mono === true ? ' mono' : ''}${props.multiline === true ? ' textarea' : ''}`,
    spellCheck: false,
    value: props.value,
    placeholder: props.placeholder,
    'aria-invalid': props.error ? true : undefined,
    'aria-describedby': describedBy,
    ref: props.inputRef,
  };
  const input =
    props.multiline === true ? (
      <textarea {...common} rows={2} onChange={(e) => props.onChange(e.target.value)} />
    ) : (
      <input {...common} inputMode={props.inputMode} onChange={(e) => props.onChange(e.target.value)} />
    );
  return (
    <div className="field">
      <label className="field-label" htmlFor={props.id}>
        {props.label}
      </label>
      {props.unit === undefined ? (
        input
      ) : (
        <span className="input-with-unit">
          {input}
          <span className="unit">{props.unit}</span>
        </span>
      )}
      {props.error ? (
        <p className="field-error" id={errorId}>
          {props.error}
        </p>
      ) : null}
      {props.help !== undefined && (
        <p id={helpId} className="field-help">
          {props.help}
        </p>
      )}
    </div>
  );
}
