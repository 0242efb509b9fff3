/** The generation form: typed values, live checks, and the server's own field errors. */
import { useCallback, useMemo, useState } from "react";
import type { Limits } from "../api/types";
import {
  defaultSteps,
  defaultValues,
  type FieldErrors,
  type FieldName,
  type FormValues,
  type StepLimit,
  validate,
} from "../lib/settings";

export interface SettingsForm {
  values: FormValues;
  errors: FieldErrors; // the page's checks, then the server's (until that field is edited)
  valid: boolean;
  change(field: FieldName, value: string): void;
  load(values: FormValues): void;
  resetSteps(max: number): void;
  setServerErrors(errors: FieldErrors | undefined): void;
}

export function useSettingsForm(limits: Limits, steps: StepLimit): SettingsForm {
  const [values, setValues] = useState<FormValues>(() => defaultValues(limits, steps.max));
  const [serverErrors, setServerErrors] = useState<FieldErrors>({});

  const change = useCallback(
    (field: FieldName, value: string) => {
      setServerErrors(({ [field]: _, ...rest }) => rest);
      setValues((v) =>
        field === "sampler"
          ? { ...v, sampler: value, steps: String(defaultSteps(value, steps.max)) }
          : { ...v, [field]: value },
      );
    },
    [steps.max],
  );

  const resetSteps = useCallback(
    (max: number) => setValues((v) => ({ ...v, steps: String(defaultSteps(v.sampler, max)) })),
    [],
  );

  const load = useCallback((v: FormValues) => {
    setServerErrors({});
    setValues(v);
  }, []);

  const checked = useMemo(() => validate(values, limits, steps), [values, limits, steps]);
  const errors = useMemo(() => ({ ...serverErrors, ...checked }), [serverErrors, checked]);
  return {
    values,
    errors,
    valid: Object.keys(checked).length === 0,
    change,
    load,
    resetSteps,
    setServerErrors: useCallback((e) => setServerErrors(e ?? {}), []),
  };
}
