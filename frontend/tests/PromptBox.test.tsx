import { act, fireEvent, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { imageFileName } from "../src/lib/generation";
import { defaultValues, settingsLabel, toSettings, validate } from "../src/lib/settings";
import { FakeEventSource, job, LIMITS, MODELS, PETS, PNG, WORDS } from "./fakes";
import { posted, renderGenerate } from "./generatePage";

const setup = (routes = {}) => renderGenerate([...MODELS, PETS, WORDS], routes);

describe("the prompt box", () => {
  it("appears for a text-conditional model only, with its guidance", async () => {
    const { ui } = await setup();
    expect(ui.queryByLabelText("Prompt")).not.toBeInTheDocument();
    await userEvent.click(ui.getByRole("radio", { name: "pets" }));
    expect(ui.queryByLabelText("Prompt")).not.toBeInTheDocument();

    await userEvent.click(ui.getByRole("radio", { name: "words" }));
    const box = ui.getByLabelText("Prompt");
    expect(box).toHaveValue("");
    expect(ui.queryByLabelText("Class")).not.toBeInTheDocument();
    expect(ui.getByRole("radio", { name: "words" })).toHaveAccessibleDescription(
      /Draws\s*prompts, encoded by all-MiniLM-L6-v2/,
    );
    expect(ui.getByRole("radio", { name: "words" })).toHaveAccessibleDescription(
      /Trained on\s*Twemoji graphics, CC-BY 4.0\s*Noto Emoji by Google, Apache 2.0/,
    );
    const slider = ui.getByLabelText("Guidance");
    expect(slider).toBeDisabled();
    expect(slider).toHaveAccessibleDescription(
      "1 = the prompt as trained, higher = more typical, 0 = ignore the prompt",
    );
    await userEvent.type(box, "red apple");
    expect(slider).toBeEnabled();
    expect(box).toHaveAccessibleDescription("9/200 characters; empty draws without one.");
  });

  it("sends the prompt and guidance, and never to a model without prompts", async () => {
    const { calls, ui } = await setup({
      "POST api/generate": (_url: string, init?: RequestInit) => {
        const body = JSON.parse(String(init?.body));
        return { status: 202, body: job({ model: body.model, seed: 5, ...body }) };
      },
    });
    await userEvent.click(ui.getByRole("radio", { name: "words" }));
    await userEvent.type(ui.getByLabelText("Seed"), "5");
    await userEvent.type(ui.getByLabelText("Prompt"), "  red apple ");
    fireEvent.change(ui.getByLabelText("Guidance"), { target: { value: "4" } });
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    expect(posted(calls)).toEqual([
      '{"model":"words","n":4,"sampler":"dpmpp2m","steps":20,"eta":0,"prompt":"red apple","guidance":4,"seed":5}',
    ]);
    act(() => FakeEventSource.last().emit("done", { images: [{ index: 0, url: "", png: PNG }] }));
    expect(
      await within(screen.getByRole("tabpanel", { name: "Generate" })).findAllByText(
        /words: prompt “red apple”, guidance 4, dpmpp2m, 20 steps, seed 5/,
      ),
    ).not.toHaveLength(0);
    // an unconditional model never gets the prompt typed for another
    await userEvent.click(ui.getByRole("radio", { name: "faces" }));
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    expect(JSON.parse(posted(calls)[1]!)).not.toHaveProperty("prompt");
    expect(JSON.parse(posted(calls)[1]!)).not.toHaveProperty("guidance");
  });

  it("refuses an over-long prompt before sending it", () => {
    const values = { ...defaultValues(LIMITS), prompt: "x".repeat(201) };
    const limit = { max: 1000, why: "" };
    expect(validate(values, LIMITS, limit, "20").prompt).toBe(
      "Prompt must be at most 200 characters (it has 201).",
    );
    const fine = { ...values, prompt: "a cat" };
    expect(validate(fine, LIMITS, limit, "20").prompt).toBeUndefined();
    const settings = toSettings("words", fine, "20");
    expect(settings).toMatchObject({ prompt: "a cat", guidance: 3 });
    expect(settingsLabel({ ...settings, seed: "1" })).toBe(
      "words: prompt “a cat”, guidance 3, dpmpp2m, 20 steps, seed 1",
    );
    expect(imageFileName({ ...settings, seed: "1" }, 0)).toBe(
      "words-a_cat-guidance3-dpmpp2m-20steps-seed1-0.png",
    );
    expect(toSettings("words", { ...fine, prompt: "  " }, "20")).not.toHaveProperty("prompt");
  });
});
