import { describe, expect, it } from "vitest";
import {
  defaultSteps,
  defaultValues,
  type FormValues,
  requestBody,
  shownSteps,
  stepLimit,
  toSettings,
  validate,
} from "../src/lib/settings";
import { LIMITS, MODELS } from "./fakes";

const limits = LIMITS; // the server document's own limits
const [faces, digits] = MODELS;
const values = (over: Partial<FormValues> = {}): FormValues => ({
  ...defaultValues(limits),
  ...over,
});
const wide = { max: 1000, why: "" };

describe("settings", () => {
  it("starts from the server's default sampler and the model's own default steps", () => {
    expect(defaultValues(limits)).toMatchObject({ sampler: "dpmpp2m", steps: null, n: "4" });
    expect(defaultSteps("dpmpp2m", wide, faces)).toBe(20); // the server's default_steps
    expect(defaultSteps("ddpm", wide, digits)).toBe(100);
    expect(defaultSteps("ddpm", wide, faces, digits)).toBe(100); // both models can run it
    expect(defaultSteps("ddpm", { max: 30, why: "" }, faces)).toBe(30);
    expect(defaultSteps("ddim", wide)).toBeUndefined(); // no model chosen yet
    expect(shownSteps(values(), 20)).toBe("20");
    expect(shownSteps(values({ steps: "7" }), 20)).toBe("7");
  });

  it("limits steps to the smallest T of the models, saying why", () => {
    expect(stepLimit(limits, faces)).toEqual({ max: 1000, why: "the server's limit" });
    expect(stepLimit(limits, faces, digits)).toEqual({ max: 100, why: "digits has T = 100" });
  });

  it("accepts the defaults", () => {
    expect(validate(values(), limits, wide, "20")).toEqual({});
  });

  it("explains each invalid value", () => {
    const limit = { max: 100, why: "digits has T = 100" };
    const bad = values({ n: "0", seed: "-3", sampler: "ddim", eta: "2" });
    const errors = validate(bad, limits, limit, "500");
    expect(errors.n).toBe("Number of images must be at least 1.");
    expect(errors.steps).toBe("Steps must be at most 100 (digits has T = 100).");
    expect(errors.eta).toBe("Eta must be from 0 to 1.");
    expect(errors.seed).toMatch(/whole number/);
    expect(validate(values({ n: "2.5" }), limits, limit, "20").n).toMatch(/whole number/);
    const big = values({ seed: "9223372036854775808" });
    expect(validate(big, limits, limit, "20").seed).toBeTruthy();
    expect(validate(values(), limits, limit, "").steps).toMatch(/whole number/);
  });

  it("ignores eta unless the sampler is DDIM", () => {
    expect(validate(values({ eta: "banana" }), limits, wide, "20")).toEqual({});
    expect(toSettings("m", values({ eta: "0.5" }), "20").eta).toBe(0);
    expect(toSettings("m", values({ sampler: "ddim", eta: "0.5" }), "50").eta).toBe(0.5);
  });

  it("writes seeds beyond 2^53 as exact digits", () => {
    const body = requestBody(toSettings("m", values({ seed: "9223372036854775807" }), "20"));
    expect(body).toBe(
      '{"model":"m","n":4,"sampler":"dpmpp2m","steps":20,"eta":0,"seed":9223372036854775807}',
    );
    expect(requestBody(toSettings("m", values({ seed: "" }), "20"))).not.toContain("seed");
    expect(toSettings("m", values({ seed: "007" }), "20").seed).toBe("7");
  });
});
