import type { Preset } from "../lib/settings";
import { SAMPLER_LABELS } from "../lib/settings";

interface Props {
  presets: Preset[];
  /** The preset drawn with; "" for custom settings. */
  value: string;
  onChange(value: string): void;
  disabled?: boolean;
}

const TITLES: Record<string, string> = { fast: "Fast", balanced: "Balanced", best: "Best" };

/** The model's sampling presets, picked from its measured FID-NFE curve, and "Custom". */
export function PresetPicker({ presets, value, onChange, disabled }: Props) {
  const choice = (name: string, title: string, detail: string) => {
    const active = value === name;
    return (
      <button
        key={name || "custom"}
        type="button"
        role="radio"
        aria-checked={active}
        disabled={disabled}
        onClick={() => onChange(name)}
        className={`flex flex-col rounded-md border px-3 py-2 text-left text-sm transition-colors disabled:opacity-50 ${
          active
            ? "border-amber-400 bg-amber-400/10 text-amber-100"
            : "border-slate-700 text-slate-300 hover:bg-slate-800"
        }`}
      >
        <span className="font-semibold">{title}</span>
        <span className="text-xs text-slate-400">{detail}</span>
      </button>
    );
  };
  return (
    <fieldset>
      <legend className="mb-1 text-sm font-medium text-slate-200">Speed and quality</legend>
      <div
        role="radiogroup"
        aria-label="Sampling preset"
        className="grid grid-cols-2 gap-2 sm:grid-cols-4"
      >
        {presets.map((p) =>
          choice(
            p.name,
            TITLES[p.name] ?? p.name,
            `${SAMPLER_LABELS[p.sampler] ?? p.sampler}, ${p.nfe} network calls · FID ${p.fid.toFixed(1)}`,
          ),
        )}
        {choice("", "Custom", "your sampler and steps")}
      </div>
      <p className="mt-1 text-xs text-slate-400">
        Picked from this model's measured FID against network calls (lower FID is better).
      </p>
    </fieldset>
  );
}
