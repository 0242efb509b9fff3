/** The generation form: typed values, live checks, and the server's refusal of the last
 * submission, all derived from the values during render. */
import { useCallback, useMemo, useState } from "react";
import type { Limits, ModelInfo } from "../api/types";
import {
  chosenPreset,
  defaultSteps,
  defaultValues,
  type FieldErrors,
  type FieldName,
  type FormValues,
  type Preset,
  type Settings,
  sharedGuidance,
  sharedPresets,
  type StepLimit,
  shownLabel,
  shownPrompt,
  shownSteps,
  toSettings,
  validate,
} from "../lib/settings";

export interface SettingsForm {
  /** As chosen; `label` is the class chosen (at first the first model's first class) when
   * every chosen model has it, else "" (any class); `prompt` "" unless every chosen model
   * takes prompts. */
  values: FormValues;
  /** The presets the chosen models share (none: custom settings only). */
  presets: Preset[];
  /** The steps field as shown: as typed, else the chosen models' default for the sampler. */
  steps: string;
  defaultSteps?: number;
  /** The page's checks; then the server's refusal, for fields still as they were submitted. */
  errors: FieldErrors;
  valid: boolean;
  change(field: FieldName, value: string): void;
  load(values: FormValues): void;
  /** Back to the default steps (another model was chosen). */
  resetSteps(): void;
  /** The settings to send for `model` (with `seed` if given), remembered as submitted. */
  submit(model: string, seed?: string): Settings;
}

export function useSettingsForm(
  limits: Limits,
  limit: StepLimit,
  models: (ModelInfo | undefined)[],
  refusal?: FieldErrors,
): SettingsForm {
  const [chosen, setValues] = useState<FormValues>(() => defaultValues(limits));
  const [submitted, setSubmitted] = useState<FormValues>();
  // a class model opens on its first class; the class stays chosen while the models have it
  // (back to a model: its class again)
  const label = shownLabel(chosen.label, models);
  const prompt = shownPrompt(chosen.prompt, models); // kept while the models take prompts
  // a preset (the models' default one until the sampler, steps or eta are edited) sets the
  // sampler, steps and spacing; "" in `preset` means custom settings
  const presets = useMemo(() => sharedPresets(models), [models]);
  const preset = chosenPreset(chosen.preset, models);
  const values = useMemo(() => {
    const drawn = preset && {
      sampler: preset.sampler,
      steps: String(preset.steps),
      spacing: preset.spacing,
    };
    // the guidance as moved, else the models' own default
    const guidance = chosen.guidance ?? sharedGuidance(models);
    return { ...chosen, label, prompt, guidance, ...drawn, preset: preset?.name ?? "" };
  }, [chosen, label, prompt, preset, models]);
  const fallback = defaultSteps(values.sampler, limit, ...models);
  const steps = shownSteps(values, fallback);

  const change = useCallback(
    (field: FieldName, value: string) => {
      if (field === "preset" && value) return setValues((v) => ({ ...v, preset: value }));
      if (!["sampler", "steps", "eta", "preset"].includes(field)) {
        return setValues((v) => ({ ...v, [field]: value }));
      }
      // custom settings, starting from those drawn with now
      const { sampler, steps, spacing } = values;
      const custom = { ...chosen, sampler, steps, spacing, preset: "" };
      if (field === "sampler") setValues({ ...custom, sampler: value, steps: null, spacing: "" });
      else setValues(field === "preset" ? custom : { ...custom, [field]: value });
    },
    [chosen, values],
  );
  const resetSteps = useCallback(() => setValues((v) => ({ ...v, steps: null })), []);
  const load = useCallback((v: FormValues) => setValues(v), []);

  const checked = useMemo(
    () => validate(values, limits, limit, steps),
    [values, limits, limit, steps],
  );
  const shown = { ...values, steps };
  const stillRefused = Object.entries(refusal ?? {}).filter(
    ([field]) => field === "model" || shown[field as FieldName] === submitted?.[field as FieldName],
  );
  return {
    values,
    presets,
    steps,
    defaultSteps: fallback,
    errors: { ...Object.fromEntries(stillRefused), ...checked },
    valid: Object.keys(checked).length === 0,
    change,
    load,
    resetSteps,
    submit: (model: string, seed = values.seed) => {
      setSubmitted({ ...shown, seed });
      return toSettings(model, { ...values, seed }, steps);
    },
  };
}
