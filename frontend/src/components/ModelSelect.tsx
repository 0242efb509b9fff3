import type { ModelInfo } from "../api/types";
import { SelectField } from "./SelectField";

interface Props {
  label: string;
  models: ModelInfo[];
  value: string;
  onChange(name: string): void;
  disabled?: boolean;
  error?: string;
}

/** A compact model choice; invalid models are listed but cannot be chosen. */
export function ModelSelect({ label, models, value, onChange, disabled, error }: Props) {
  const options = [
    { value: "", label: "Choose a model…", disabled: true },
    ...models.map((m) => ({
      value: m.name,
      label: m.valid
        ? `${m.name} (${m.resolution} px, T ${m.T}${m.fid != null ? `, FID ${m.fid.toFixed(1)}` : ""})`
        : `${m.name}: invalid`,
      disabled: !m.valid,
    })),
  ];
  return (
    <SelectField
      label={label}
      value={value}
      options={options}
      onChange={onChange}
      disabled={disabled}
      error={error}
    />
  );
}
