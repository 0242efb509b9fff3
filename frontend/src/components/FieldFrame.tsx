import { type ReactNode, useId } from "react";

/** Ids for a control and the hint and error that describe it. */
export function useFieldIds(hint: ReactNode, error: string | undefined) {
  const id = useId();
  const describedBy = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(" ");
  return { id, describedBy: describedBy || undefined };
}

interface Props {
  id: string;
  label: string;
  hint?: ReactNode;
  error?: string;
  children: ReactNode;
}

/** A control's label above it, its hint and its error (explained inline) below it. */
export function FieldFrame({ id, label, hint, error, children }: Props) {
  return (
    <div className="flex flex-col gap-1">
      <label htmlFor={id} className="text-sm font-medium text-slate-200">
        {label}
      </label>
      {children}
      {hint && (
        <p id={`${id}-hint`} className="text-xs text-slate-400">
          {hint}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} className="text-xs font-medium text-rose-300">
          {error}
        </p>
      )}
    </div>
  );
}

export const controlClass = (error?: string) =>
  `w-full min-w-0 rounded-md border ${error ? "border-rose-400" : "border-slate-600"} bg-slate-900 px-3 py-2 text-sm text-slate-100 disabled:opacity-50`;
