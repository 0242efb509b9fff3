import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { GenerationControls } from "../src/components/GenerationControls";
import { useSettingsForm } from "../src/hooks/useSettingsForm";
import { LIMITS, MODELS } from "./fakes";

const steps = { max: 100, why: "digits has T = 100" };
const digits = MODELS[1]; // T = 100: the server says ddpm 100, ddim 50, dpmpp2m 20

function Form() {
  const form = useSettingsForm(LIMITS, steps, [digits]);
  return <GenerationControls form={form} limits={LIMITS} steps={steps} />;
}

describe("GenerationControls", () => {
  it("labels every control and starts from the model's defaults", () => {
    render(<Form />);
    expect(screen.getByLabelText("Number of images")).toHaveValue("4");
    expect(screen.getByLabelText("Sampler")).toHaveValue("dpmpp2m");
    expect(screen.getByLabelText("Steps")).toHaveValue("20");
    expect(screen.getByLabelText("Eta")).toBeDisabled();
    expect(screen.getByLabelText("Seed")).toHaveValue("");
  });

  it("explains an invalid value inline, tied to its field", async () => {
    render(<Form />);
    const stepsField = screen.getByLabelText("Steps");
    await userEvent.clear(stepsField);
    await userEvent.type(stepsField, "500");
    expect(stepsField).toHaveAttribute("aria-invalid", "true");
    expect(stepsField).toHaveAccessibleDescription(
      /Steps must be at most 100 \(digits has T = 100\)\./,
    );
    await userEvent.clear(stepsField);
    await userEvent.type(stepsField, "50");
    expect(stepsField).not.toHaveAttribute("aria-invalid");
  });

  it("moves steps to the new sampler's default and enables eta for DDIM", async () => {
    render(<Form />);
    await userEvent.clear(screen.getByLabelText("Steps"));
    await userEvent.type(screen.getByLabelText("Steps"), "7");
    await userEvent.selectOptions(screen.getByLabelText("Sampler"), "ddim");
    expect(screen.getByLabelText("Steps")).toHaveValue("50");
    const eta = screen.getByLabelText("Eta");
    expect(eta).toBeEnabled();
    await userEvent.clear(eta);
    await userEvent.type(eta, "1.5");
    expect(eta).toHaveAccessibleDescription(/Eta must be from 0 to 1\./);
    await userEvent.selectOptions(screen.getByLabelText("Sampler"), "ddpm");
    expect(screen.getByLabelText("Steps")).toHaveValue("100"); // ddpm: all T steps
  });

  it("draws a random seed", async () => {
    render(<Form />);
    await userEvent.click(screen.getByRole("button", { name: "Random seed" }));
    expect((screen.getByLabelText("Seed") as HTMLInputElement).value).toMatch(/^\d+$/);
  });
});
