import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { ModelInfo } from "../src/api/types";
import { ModelPicker } from "../src/components/ModelPicker";
import { ModelSelect } from "../src/components/ModelSelect";
import { MODELS } from "./fakes";

const models = MODELS;
const catalog = (over = {}) => ({
  models,
  loading: false,
  reload: vi.fn(),
  refresh: vi.fn(),
  ...over,
});

describe("ModelPicker", () => {
  it("shows each model's details, FID when known", () => {
    render(<ModelPicker catalog={catalog()} selected="faces" onSelect={() => {}} />);
    const faces = screen.getByRole("radio", { name: "faces" });
    expect(faces).toBeChecked();
    expect(faces).toHaveAccessibleDescription(/64 × 64 px.*cosine.*21\.4 M.*FID 12\.50/);
    expect(screen.getByRole("radio", { name: /digits/ })).toHaveAccessibleDescription(
      /1 \(grey\).*100.*not recorded/,
    );
  });

  it("shows a cascade's chain of resolutions", () => {
    const stage = {
      path: "base",
      resolution: 16,
      low_res: null,
      parameters: 1,
      T: 1000,
      schedule: "cosine",
    };
    const cascade: ModelInfo = {
      ...models[0],
      name: "pair",
      kind: "cascade",
      resolution: 64,
      stages: [
        stage,
        { ...stage, path: "sr1", resolution: 32, low_res: 16 },
        { ...stage, path: "sr2", resolution: 64, low_res: 32 },
      ],
    };
    render(
      <ModelPicker catalog={catalog({ models: [cascade] })} selected="pair" onSelect={() => {}} />,
    );
    expect(screen.getByRole("radio", { name: "pair" })).toHaveAccessibleDescription(
      /16 → 32 → 64 px, 3 stages.*64 × 64 px/,
    );
  });

  it("greys out an invalid model with its reason", () => {
    render(<ModelPicker catalog={catalog()} selected="faces" onSelect={() => {}} />);
    const broken = screen.getByRole("radio", { name: /broken/ });
    expect(broken).toBeDisabled();
    expect(broken).toHaveAccessibleDescription(/Invalid: model.safetensors: corrupt/);
  });

  it("selects with the keyboard and reloads on demand", async () => {
    const onSelect = vi.fn();
    const state = catalog();
    render(<ModelPicker catalog={state} selected="faces" onSelect={onSelect} />);
    await userEvent.click(screen.getByRole("radio", { name: /digits/ }));
    expect(onSelect).toHaveBeenCalledWith("digits");
    await userEvent.click(screen.getByRole("button", { name: "Reload models" }));
    expect(state.reload).toHaveBeenCalled();
  });

  it("says what to do when there is no model, and shows a listing error", () => {
    const { rerender } = render(
      <ModelPicker catalog={catalog({ models: [] })} selected="" onSelect={() => {}} />,
    );
    expect(screen.getByRole("status")).toHaveTextContent(/found no models/);
    rerender(
      <ModelPicker
        catalog={catalog({ models: [], error: "Could not list" })}
        selected=""
        onSelect={() => {}}
      />,
    );
    expect(screen.getByRole("alert")).toHaveTextContent("Could not list");
  });
});

describe("ModelSelect", () => {
  it("lists invalid models as disabled options", () => {
    render(<ModelSelect label="Left model" models={models} value="faces" onChange={() => {}} />);
    expect(screen.getByRole("option", { name: "broken: invalid" })).toBeDisabled();
    expect(
      screen.getByRole("option", { name: /faces \(64 px, T 1000, FID 12\.5\)/ }),
    ).toBeEnabled();
  });
});
