import type { SettingsForm } from "../hooks/useSettingsForm";
import { GUIDANCE } from "../lib/settings";
import { RangeField } from "./RangeField";

interface Props {
  form: SettingsForm;
  what: string; // what the guidance pulls towards: "the class", "the prompt"
  off: boolean; // nothing to guide towards: the slider is disabled
  disabled?: boolean;
}

/** Classifier-free guidance w of a conditional model's class or prompt. */
export function GuidanceField({ form, what, off, disabled }: Props) {
  const { values, errors, change } = form;
  return (
    <RangeField
      label="Guidance"
      name="guidance"
      min={GUIDANCE.min}
      max={GUIDANCE.max}
      step={GUIDANCE.step}
      value={values.guidance ?? GUIDANCE.default}
      onChange={(value) => change("guidance", value)}
      hint={`1 = ${what} as trained, higher = more typical, 0 = ignore ${what}`}
      error={off ? undefined : errors.guidance}
      disabled={disabled || off}
    />
  );
}
