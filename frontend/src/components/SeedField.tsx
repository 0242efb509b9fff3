import { randomSeed } from "../lib/settings";
import { Button } from "./Button";
import { TextField } from "./TextField";

interface Props {
  name?: string;
  value: string;
  onChange(value: string): void;
  error?: string;
  disabled?: boolean;
}

export function SeedField({ name = "seed", value, onChange, error, disabled }: Props) {
  return (
    <TextField
      label="Seed"
      name={name}
      inputMode="numeric"
      autoComplete="off"
      placeholder="random"
      value={value}
      onChange={onChange}
      error={error}
      disabled={disabled}
      hint="The same model, settings and seed draw the same images. Empty: a random seed."
      after={
        <Button onClick={() => onChange(randomSeed())} disabled={disabled} aria-label="Random seed">
          Random
        </Button>
      }
    />
  );
}
