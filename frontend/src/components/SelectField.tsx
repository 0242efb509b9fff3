import type { ReactNode } from "react";
import { controlClass, FieldFrame, useFieldIds } from "./FieldFrame";

export interface Option {
  value: string;
  label: string;
  disabled?: boolean;
}

interface Props {
  label: string;
  name?: string;
  value: string;
  options: Option[];
  onChange(value: string): void;
  hint?: ReactNode;
  error?: string;
  disabled?: boolean;
}

/** A labelled native select (keyboard and screen-reader behaviour for free). */
export function SelectField(props: Props) {
  const { label, name, value, options, onChange, hint, error, disabled } = props;
  const { id, describedBy } = useFieldIds(hint, error);
  return (
    <FieldFrame id={id} label={label} hint={hint} error={error}>
      <select
        id={id}
        name={name}
        value={value}
        disabled={disabled}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy}
        className={controlClass(error)}
      >
        {options.map((o) => (
          <option key={o.value} value={o.value} disabled={o.disabled}>
            {o.label}
          </option>
        ))}
      </select>
    </FieldFrame>
  );
}
