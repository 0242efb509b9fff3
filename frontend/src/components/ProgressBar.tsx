interface Props {
  value: number;
  max: number;
  label: string;
}

/** A labelled progress bar that screen readers read as "step value of max". */
export function ProgressBar({ value, max, label }: Props) {
  const percent = max > 0 ? Math.min(100, (100 * value) / max) : 0;
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={max}
      aria-valuenow={value}
      aria-valuetext={`step ${value} of ${max}`}
      className="h-2 w-full overflow-hidden rounded-full bg-slate-700"
    >
      <div
        className="h-full rounded-full bg-amber-400 transition-[width]"
        style={{ width: `${percent}%` }}
      />
    </div>
  );
}
