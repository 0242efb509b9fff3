import { useId } from "react";
import type { ModelInfo } from "../api/types";
import { ModelDetails } from "./ModelDetails";

interface Props {
  model: ModelInfo;
  checked: boolean;
  onSelect(name: string): void;
  disabled?: boolean;
}

/** One model as a radio choice; an invalid one is greyed out with the server's reason. */
export function ModelCard({ model, checked, onSelect, disabled }: Props) {
  const id = useId();
  const frame = checked
    ? "border-amber-400 bg-slate-800"
    : "border-slate-700 bg-slate-900 hover:border-slate-500";
  return (
    <label
      className={`flex cursor-pointer gap-3 rounded-lg border p-3 has-[:focus-visible]:outline-2 has-[:focus-visible]:outline-amber-300 ${frame} ${model.valid ? "" : "cursor-not-allowed opacity-60"}`}
    >
      <input
        type="radio"
        name="model"
        value={model.name}
        checked={checked}
        disabled={!model.valid || disabled}
        onChange={() => onSelect(model.name)}
        aria-labelledby={`${id}-name`}
        aria-describedby={`${id}-about`}
        className="mt-1 accent-amber-400"
      />
      <span className="flex min-w-0 flex-col gap-1">
        <span className="font-medium break-all text-slate-100">
          <span id={`${id}-name`}>{model.name}</span>
          {model.version && (
            <span className="ml-2 text-xs font-normal text-slate-400">{model.version}</span>
          )}
        </span>
        <span id={`${id}-about`} className="flex flex-col gap-1">
          {model.valid ? (
            <ModelDetails model={model} />
          ) : (
            <span className="text-xs text-rose-300">
              Invalid: {model.reason ?? "unknown reason"}
            </span>
          )}
          {model.warnings?.map((w) => (
            <span key={w} className="text-xs text-amber-200">
              Warning: {w}
            </span>
          ))}
        </span>
      </span>
    </label>
  );
}
