import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../src/api/client";
import {
  defaultValues,
  requestBody,
  stepLimit,
  toSettings,
  validate,
  type FormValues,
} from "../src/lib/settings";
import { MODELS } from "./fakes";

const limits = DEFAULT_LIMITS;
const values = (over: Partial<FormValues> = {}): FormValues => ({
  ...defaultValues(limits, 1000),
  ...over,
});

describe("settings", () => {
  it("defaults to the sampler's steps within the model's T", () => {
    expect(defaultValues(limits, 1000)).toMatchObject({ sampler: "dpmpp2m", steps: "20", n: "4" });
    expect(defaultValues(limits, 10).steps).toBe("10");
  });

  it("limits steps to the smallest T of the models, saying why", () => {
    expect(stepLimit(limits, MODELS[0] as never)).toEqual({ max: 1000, why: "the server's limit" });
    expect(stepLimit(limits, MODELS[0] as never, MODELS[1] as never)).toEqual({
      max: 100,
      why: "digits has T = 100",
    });
  });

  it("accepts the defaults", () => {
    expect(validate(values(), limits, { max: 1000, why: "" })).toEqual({});
  });

  it("explains each invalid value", () => {
    const steps = { max: 100, why: "digits has T = 100" };
    const errors = validate(
      values({ n: "0", steps: "500", seed: "-3", sampler: "ddim", eta: "2" }),
      limits,
      steps,
    );
    expect(errors.n).toBe("Number of images must be at least 1.");
    expect(errors.steps).toBe("Steps must be at most 100 (digits has T = 100).");
    expect(errors.eta).toBe("Eta must be from 0 to 1.");
    expect(errors.seed).toMatch(/whole number/);
    expect(validate(values({ n: "2.5" }), limits, steps).n).toMatch(/whole number/);
    expect(validate(values({ seed: "9223372036854775808" }), limits, steps).seed).toBeTruthy();
  });

  it("ignores eta unless the sampler is DDIM", () => {
    expect(validate(values({ eta: "banana" }), limits, { max: 1000, why: "" })).toEqual({});
    expect(toSettings("m", values({ eta: "0.5" })).eta).toBe(0);
    expect(toSettings("m", values({ sampler: "ddim", eta: "0.5" })).eta).toBe(0.5);
  });

  it("writes seeds beyond 2^53 as exact digits", () => {
    const body = requestBody(toSettings("m", values({ seed: "9223372036854775807" })));
    expect(body).toBe(
      '{"model":"m","n":4,"sampler":"dpmpp2m","steps":20,"eta":0,"seed":9223372036854775807}',
    );
    expect(requestBody(toSettings("m", values({ seed: "" })))).not.toContain("seed");
    expect(toSettings("m", values({ seed: "007" })).seed).toBe("7");
  });
});
