/** The generation form: typed values, live checks, and the server's refusal of the last
 * submission, all derived from the values during render. */
import { useCallback, useMemo, useState } from "react";
import type { Limits, ModelInfo } from "../api/types";
import {
  defaultSteps,
  defaultValues,
  type FieldErrors,
  type FieldName,
  type FormValues,
  type Settings,
  type StepLimit,
  shownLabel,
  shownPrompt,
  shownSteps,
  toSettings,
  validate,
} from "../lib/settings";

export interface SettingsForm {
  /** As chosen; `label` is "" (any class) unless every chosen model has the class chosen,
   * `prompt` "" unless every chosen model takes prompts. */
  values: FormValues;
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
  // the class stays chosen while the models have it (back to a model: its class again)
  const label = shownLabel(chosen.label, models);
  const prompt = shownPrompt(chosen.prompt, models); // kept while the models take prompts
  const values = useMemo(() => ({ ...chosen, label, prompt }), [chosen, label, prompt]);
  const fallback = defaultSteps(values.sampler, limit, ...models);
  const steps = shownSteps(values, fallback);

  const change = useCallback((field: FieldName, value: string) => {
    setValues((v) =>
      field === "sampler" ? { ...v, sampler: value, steps: null } : { ...v, [field]: value },
    );
  }, []);
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
