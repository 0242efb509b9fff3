import type { SettingsForm } from "../hooks/useSettingsForm";
import { MAX_PROMPT } from "../lib/settings";
import { GuidanceField } from "./GuidanceField";
import { TextField } from "./TextField";

interface Props {
  form: SettingsForm;
  disabled?: boolean;
}

/** A text-conditional model's prompt, and the guidance that draws it (with a prompt only). */
export function PromptBox({ form, disabled }: Props) {
  const { values, errors, change } = form;
  const length = values.prompt.trim().length;
  return (
    <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
      <TextField
        label="Prompt"
        name="prompt"
        value={values.prompt}
        onChange={(value) => change("prompt", value)}
        placeholder="e.g. red apple"
        hint={`${length}/${MAX_PROMPT} characters; empty draws without one.`}
        error={errors.prompt}
        disabled={disabled}
        autoComplete="off"
      />
      <GuidanceField form={form} what="the prompt" off={length === 0} disabled={disabled} />
    </div>
  );
}
