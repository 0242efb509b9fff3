import type { Limits } from "../api/types";
import type { SettingsForm } from "../hooks/useSettingsForm";
import { type FieldName, SAMPLER_LABELS, type StepLimit } from "../lib/settings";
import { PresetPicker } from "./PresetPicker";
import { SeedField } from "./SeedField";
import { SelectField } from "./SelectField";
import { TextField } from "./TextField";

interface Props {
  form: SettingsForm;
  limits: Limits;
  steps: StepLimit;
  disabled?: boolean;
}

/** Number of images, a preset or the sampler, steps and eta, and the seed, each explained
 * when invalid. */
export function GenerationControls({ form, limits, steps, disabled }: Props) {
  const { values, errors, change, steps: shownSteps, defaultSteps } = form;
  const ddim = values.sampler === "ddim";
  const samplers = limits.samplers.map((s) => ({ value: s, label: SAMPLER_LABELS[s] ?? s }));
  /** The props every field shares: its value, its change, its error. */
  const bind = (name: FieldName) => ({
    name,
    value: name === "steps" ? shownSteps : (values[name] ?? ""),
    onChange: (value: string) => change(name, value),
    error: errors[name],
    disabled,
  });
  return (
    <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
      <TextField
        label="Number of images"
        inputMode="numeric"
        hint={`1 to ${limits.maxN}`}
        {...bind("n")}
      />
      {form.presets.length > 0 && (
        <div className="sm:col-span-2">
          <PresetPicker
            presets={form.presets}
            value={values.preset ?? ""}
            onChange={(value) => change("preset", value)}
            disabled={disabled}
          />
        </div>
      )}
      <SelectField label="Sampler" options={samplers} {...bind("sampler")} />
      <TextField
        label="Steps"
        inputMode="numeric"
        hint={`1 to ${steps.max}; ${values.sampler} default ${defaultSteps ?? "(choose a model)"}`}
        {...bind("steps")}
      />
      <TextField
        label="Eta"
        inputMode="decimal"
        hint={
          ddim ? `DDIM noise: 0 deterministic, ${limits.etaMax} like DDPM` : "Only DDIM uses eta."
        }
        {...bind("eta")}
        value={ddim ? values.eta : "0"}
        error={ddim ? errors.eta : undefined}
        disabled={disabled || !ddim}
      />
      <div className="sm:col-span-2">
        <SeedField {...bind("seed")} />
      </div>
    </div>
  );
}
