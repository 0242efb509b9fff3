import type { ModelInfo } from "../api/types";

/** The valid models' names, in the server's order. */
export const validNames = (models: ModelInfo[]) => models.filter((m) => m.valid).map((m) => m.name);

export const findModel = (models: ModelInfo[], name: string) => models.find((m) => m.name === name);

/** `name` if it is still a valid model, else the `fallback`-th valid one (or ""). */
export function keepOrPick(models: ModelInfo[], name: string, fallback = 0): string {
  const names = validNames(models);
  if (names.includes(name)) return name;
  return names[Math.min(fallback, names.length - 1)] ?? "";
}
