/** Generation settings: the form's values, their defaults for a model, checks and the request. */
import type { Limits, ModelInfo } from "../api/types";

/** What the form holds: text as typed, so an invalid value can be shown and explained. */
export interface FormValues {
  n: string;
  sampler: string;
  steps: string | null; // null: the default for the chosen model(s) and sampler (from the server)
  eta: string;
  preset: string | null; // null: the models' default preset; "": custom (sampler and steps)
  spacing: string; // a preset's timestep spacing; "": the sampler's default
  seed: string; // digits; "" lets the server pick (the job reports it)
  label: string | null; // a class-conditional model's class by name; "": any (unconditional);
  // null: the models' first class
  prompt: string; // a text-conditional model's text; "": none (unconditional)
  guidance: string | null; // classifier-free guidance with a label or prompt; null: the models'
}

export type FieldName = keyof FormValues;
export type FieldErrors = Partial<Record<FieldName | "model", string>>;

/** A request as sent, enough to draw the same images again. */
export interface Settings {
  model: string;
  n: number;
  sampler: string;
  steps: number;
  eta: number;
  spacing?: string; // a preset's; absent: the sampler's default
  seed: string;
  label?: string; // a class-conditional model's class; absent: unconditional
  prompt?: string; // a text-conditional model's text; absent: unconditional
  guidance?: number; // with a label or prompt only
}

export const SAMPLER_LABELS: Record<string, string> = {
  dpmpp2m: "DPM-Solver++ (2M), fast",
  dpmpp3m: "DPM-Solver++ (3M)",
  unipc2: "UniPC, order 2",
  unipc3: "UniPC, order 3",
  ipndm: "iPNDM",
  "dpmpp2m-sde": "DPM-Solver++ (2M) SDE",
  euler: "Euler",
  heun: "Heun (2 calls a step)",
  ddim: "DDIM",
  ddpm: "DDPM ancestral, slow",
};

const MAX_SEED = (1n << 63n) - 1n;

/** The guidance slider: its range and the server's default for a model without its own. */
export const GUIDANCE = { min: 0, max: 10, step: 0.5, default: "3" } as const;

/** The guidance the chosen models draw with by default: their own (measured) one when they
 * share it, else the server's global default. */
export function sharedGuidance(models: (ModelInfo | undefined)[]): string {
  const own = new Set(models.map((m) => m?.guidance).filter((w) => typeof w === "number"));
  return own.size === 1 ? String([...own][0]) : GUIDANCE.default;
}

/** The longest prompt the server takes, in characters. */
export const MAX_PROMPT = 200;

/** Whether a model draws from a prompt (a text-conditional model). */
export const takesPrompt = (model: ModelInfo | undefined) => model?.conditioning?.kind === "text";

/** The prompt the form stands for on `models`: as typed when every model takes one, else "". */
export const shownPrompt = (prompt: string, models: (ModelInfo | undefined)[]) =>
  models.length > 0 && models.every(takesPrompt) ? prompt : "";

/** A class-conditional model's class names; undefined for an unconditional model. */
export const classLabels = (model: ModelInfo | undefined) =>
  model?.conditioning?.kind === "class" ? model.conditioning.labels : undefined;

/** The class the form stands for on `models`: the one chosen (null: the first model's first
 * class) when every model has it, else "" (unconditional: an unconditional model, another
 * model's class, or any class chosen). */
export function shownLabel(label: string | null, models: (ModelInfo | undefined)[]): string {
  const wanted = label ?? classLabels(models[0])?.[0];
  if (!wanted || models.length === 0) return "";
  return models.every((m) => classLabels(m)?.includes(wanted)) ? wanted : "";
}

/** A sampling preset of a model (from its measured FID-NFE curve), with its name. */
export interface Preset {
  name: string;
  sampler: string;
  steps: number;
  spacing: string;
  nfe: number;
  fid: number;
}

const PRESET_ORDER = ["fast", "balanced", "best"];

/** The presets every one of `models` has, with the same settings (the first one's figures). */
export function sharedPresets(models: (ModelInfo | undefined)[]): Preset[] {
  if (models.length === 0) return [];
  const named = (m: ModelInfo | undefined, name: string) => m?.sampling?.presets[name];
  return PRESET_ORDER.flatMap((name) => {
    const first = named(models[0], name);
    const same = models.every((m) => {
      const p = named(m, name);
      return (
        p &&
        first &&
        p.sampler === first.sampler &&
        p.steps === first.steps &&
        p.spacing === first.spacing
      );
    });
    return first && same ? [{ name, ...first }] : [];
  });
}

/** The preset the form draws with on `models`: `preset` by name, or (null) the models' common
 * default; undefined for custom settings or when the models do not share it. */
export function chosenPreset(
  preset: string | null,
  models: (ModelInfo | undefined)[],
): Preset | undefined {
  if (preset === "") return undefined;
  const defaults = new Set(models.map((m) => m?.sampling?.default));
  const name = preset ?? (defaults.size === 1 ? [...defaults][0] : undefined);
  return sharedPresets(models).find((p) => p.name === name);
}

/** The most steps allowed, and why: the models' T within the server's limit. */
export interface StepLimit {
  max: number;
  why: string;
}

export function stepLimit(limits: Limits, ...models: (ModelInfo | undefined)[]): StepLimit {
  let limit: StepLimit = { max: limits.maxSteps, why: "the server's limit" };
  for (const model of models) {
    if (model?.T && model.T < limit.max)
      limit = { max: model.T, why: `${model.name} has T = ${model.T}` };
  }
  return limit;
}

/** The steps `sampler` takes by default on all of `models` (each model's `default_steps`, as
 * the server resolves them), within the limit; undefined before a model is known. */
export function defaultSteps(
  sampler: string,
  limit: StepLimit,
  ...models: (ModelInfo | undefined)[]
): number | undefined {
  const own = models.flatMap((m) => m?.default_steps?.[sampler] ?? []);
  return own.length ? Math.min(limit.max, ...own) : undefined;
}

/** The steps the form stands for: as typed, else the default ("" when none is known yet). */
export const shownSteps = (values: FormValues, fallback: number | undefined) =>
  values.steps ?? (fallback === undefined ? "" : String(fallback));

export function defaultValues(limits: Limits): FormValues {
  const n = String(Math.min(4, limits.maxN));
  return {
    n,
    sampler: limits.defaultSampler,
    steps: null,
    eta: "0",
    preset: null,
    spacing: "",
    seed: "",
    label: null,
    prompt: "",
    guidance: null,
  };
}

/** A seed the page picks: below 2^32, short enough to read out and type. */
export function randomSeed(): string {
  const [value] = crypto.getRandomValues(new Uint32Array(1));
  return String(value);
}

function wholeNumber(text: string, low: number, high: number, what: string, why?: string) {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return `${what} must be a whole number from ${low} to ${high}.`;
  const value = Number(t);
  if (value < low) return `${what} must be at least ${low}.`;
  if (value > high) return `${what} must be at most ${high}${why ? ` (${why})` : ""}.`;
  return undefined;
}

/** The reason each invalid value is invalid (an empty object when all are fine); `steps` is
 * the steps field as shown. */
export function validate(
  values: FormValues,
  limits: Limits,
  limit: StepLimit,
  steps: string,
): FieldErrors {
  const errors: FieldErrors = {};
  errors.n = wholeNumber(values.n, 1, limits.maxN, "Number of images", "the server's limit");
  if (!limits.samplers.includes(values.sampler)) {
    errors.sampler = `Sampler must be one of ${limits.samplers.join(", ")}.`;
  }
  errors.steps = wholeNumber(steps, 1, limit.max, "Steps", limit.why);
  if (values.sampler === "ddim") {
    const eta = Number(values.eta);
    if (values.eta.trim() === "" || !Number.isFinite(eta)) errors.eta = "Eta must be a number.";
    else if (eta < limits.etaMin || eta > limits.etaMax) {
      errors.eta = `Eta must be from ${limits.etaMin} to ${limits.etaMax}.`;
    }
  }
  const seed = values.seed.trim();
  if (seed && (!/^\d+$/.test(seed) || BigInt(seed) > MAX_SEED)) {
    errors.seed = "Seed must be a whole number from 0 to 2^63 - 1 (or empty for a random one).";
  }
  const prompt = values.prompt.trim();
  if (prompt.length > MAX_PROMPT) {
    errors.prompt = `Prompt must be at most ${MAX_PROMPT} characters (it has ${prompt.length}).`;
  }
  if (values.label || prompt) {
    const text = values.guidance ?? GUIDANCE.default;
    const guidance = Number(text);
    if (text.trim() === "" || !Number.isFinite(guidance)) {
      errors.guidance = "Guidance must be a number.";
    } else if (guidance < GUIDANCE.min || guidance > GUIDANCE.max) {
      errors.guidance = `Guidance must be from ${GUIDANCE.min} to ${GUIDANCE.max}.`;
    }
  }
  return Object.fromEntries(Object.entries(errors).filter(([, v]) => v)) as FieldErrors;
}

/** The settings of valid form values for `model`; `steps` is the steps field as shown. A label
 * or prompt (with its guidance) only when a class is chosen or a text typed ("" sends neither). */
export function toSettings(model: string, values: FormValues, steps: string): Settings {
  const ddim = values.sampler === "ddim";
  const settings: Settings = {
    model,
    n: Number(values.n),
    sampler: values.sampler,
    steps: Number(steps),
    eta: ddim ? Number(values.eta) : 0,
    seed: values.seed.trim().replace(/^0+(?=\d)/, ""),
  };
  if (values.spacing) settings.spacing = values.spacing;
  const prompt = values.prompt.trim();
  if (values.label) settings.label = values.label;
  else if (prompt) settings.prompt = prompt;
  if (values.label || prompt) settings.guidance = Number(values.guidance ?? GUIDANCE.default);
  return settings;
}

export function toValues(settings: Settings): FormValues {
  const { n, sampler, steps, eta, spacing, seed, label, prompt, guidance } = settings;
  return {
    n: String(n),
    sampler,
    steps: String(steps),
    eta: String(eta),
    preset: "", // the very settings drawn with, whatever the presets are now
    spacing: spacing ?? "",
    seed,
    label: label ?? "",
    prompt: prompt ?? "",
    guidance: String(guidance ?? GUIDANCE.default),
  };
}

/** "class dog, guidance 2" or "prompt “red apple”, guidance 3" for a conditional generation,
 * else "". */
export function conditionText(settings: Settings): string {
  const what = settings.label
    ? `class ${settings.label}`
    : settings.prompt
      ? `prompt “${settings.prompt}”`
      : "";
  if (!what) return "";
  const guidance = settings.guidance === undefined ? "" : `, guidance ${settings.guidance}`;
  return `${what}${guidance}`;
}

/** The JSON body of POST /api/generate; the seed is written as digits, never via a float. */
export function requestBody(settings: Settings): string {
  const { seed, ...rest } = settings;
  const body = JSON.stringify(rest);
  return seed ? `${body.slice(0, -1)},"seed":${seed}}` : body;
}

/** A one-line description that reproduces a generation (with image `index` if given). */
export function settingsLabel(settings: Settings, index?: number): string {
  const eta = settings.sampler === "ddim" ? `, eta ${settings.eta}` : "";
  const spacing = settings.spacing ? `, ${settings.spacing} spacing` : "";
  const image = index === undefined ? "" : `, image ${index}`;
  const condition = conditionText(settings);
  const label = condition ? `${condition}, ` : "";
  return `${settings.model}: ${label}${settings.sampler}, ${settings.steps} steps${spacing}${eta}, seed ${settings.seed}${image}`;
}
