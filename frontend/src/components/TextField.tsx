import type { InputHTMLAttributes, ReactNode } from "react";
import { controlClass, FieldFrame, useFieldIds } from "./FieldFrame";

interface Props extends Omit<InputHTMLAttributes<HTMLInputElement>, "onChange" | "value"> {
  label: string;
  value: string;
  onChange(value: string): void;
  hint?: ReactNode;
  error?: string;
  after?: ReactNode; // e.g. a button beside the input
}

/** A labelled text input; its hint and error are tied to it for screen readers. */
export function TextField({ label, value, onChange, hint, error, after, ...input }: Props) {
  const { id, describedBy } = useFieldIds(hint, error);
  return (
    <FieldFrame id={id} label={label} hint={hint} error={error}>
      <div className="flex gap-2">
        <input
          id={id}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy}
          className={controlClass(error)}
          {...input}
        />
        {after}
      </div>
    </FieldFrame>
  );
}
