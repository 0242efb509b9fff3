import type { ReactNode } from "react";
import { FieldFrame, useFieldIds } from "./FieldFrame";

interface Props {
  label: string;
  name?: string;
  value: string;
  min: number;
  max: number;
  step: number;
  onChange(value: string): void;
  hint?: ReactNode;
  error?: string;
  disabled?: boolean;
}

/** A labelled slider with its value shown beside it; hint and error tied to it. */
export function RangeField(props: Props) {
  const { label, name, value, min, max, step, onChange, hint, error, disabled } = props;
  const { id, describedBy } = useFieldIds(hint, error);
  return (
    <FieldFrame id={id} label={label} hint={hint} error={error}>
      <div className="flex items-center gap-3">
        <input
          id={id}
          type="range"
          name={name}
          min={min}
          max={max}
          step={step}
          value={value}
          disabled={disabled}
          onChange={(e) => onChange(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy}
          className="min-w-0 flex-1 accent-amber-400 disabled:opacity-50"
        />
        <output
          htmlFor={id}
          className={`w-10 text-right text-sm tabular-nums ${disabled ? "text-slate-500" : "text-slate-100"}`}
        >
          {value}
        </output>
      </div>
    </FieldFrame>
  );
}
