import type { SettingsForm } from "../hooks/useSettingsForm";
import { GuidanceField } from "./GuidanceField";
import { SelectField } from "./SelectField";

interface Props {
  form: SettingsForm;
  labels: string[]; // the model's classes
  disabled?: boolean;
}

export const ANY_CLASS = "any (unconditional)";

/** A class-conditional model's class, and the guidance that draws it (with a class only). */
export function ClassPicker({ form, labels, disabled }: Props) {
  const { values, errors, change } = form;
  const options = [{ value: "", label: ANY_CLASS }, ...labels.map((l) => ({ value: l, label: l }))];
  return (
    <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
      <SelectField
        label="Class"
        name="label"
        options={options}
        value={values.label ?? ""}
        onChange={(value) => change("label", value)}
        hint={`${labels.length} ${labels.length === 1 ? "class" : "classes"}; any draws without one.`}
        error={errors.label}
        disabled={disabled}
      />
      <GuidanceField form={form} what="the class" off={!values.label} disabled={disabled} />
    </div>
  );
}
