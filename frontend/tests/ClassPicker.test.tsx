import { act, fireEvent, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { imageFileName } from "../src/lib/generation";
import {
  defaultValues,
  requestBody,
  settingsLabel,
  toSettings,
  toValues,
  validate,
} from "../src/lib/settings";
import { BOOTS, FakeEventSource, job, LIMITS, MODELS, PETS, PNG } from "./fakes";
import { posted, renderGenerate } from "./generatePage";

const setup = (routes = {}) => renderGenerate([...MODELS, PETS], routes);

/** Each POST /api/generate queues its own job; `done` finishes the last one. */
function jobs() {
  let next = 0;
  return (_url: string, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body));
    return { status: 202, body: job({ id: `job${++next}`, model: body.model, seed: 5 }) };
  };
}
const done = () =>
  act(() => FakeEventSource.last().emit("done", { images: [{ index: 0, url: "", png: PNG }] }));

describe("the class picker", () => {
  it("appears for a class-conditional model only", async () => {
    const { ui } = await setup();
    expect(ui.queryByLabelText("Class")).not.toBeInTheDocument();
    expect(ui.queryByLabelText("Guidance")).not.toBeInTheDocument();

    await userEvent.click(ui.getByRole("radio", { name: "pets" }));
    const picker = ui.getByLabelText("Class");
    expect(picker).toHaveValue("cat"); // a class model opens on its first class
    const options = within(picker).getAllByRole("option");
    expect(options.map((o) => o.textContent)).toEqual([
      "any (unconditional)",
      "cat",
      "dog",
      "bird",
    ]);
    expect(ui.getByRole("radio", { name: "pets" })).toHaveAccessibleDescription(
      /Classes\s*3: cat, dog, bird/,
    );

    await userEvent.click(ui.getByRole("radio", { name: "digits" }));
    expect(ui.queryByLabelText("Class")).not.toBeInTheDocument();
  });

  it("disables the guidance slider while any class is chosen", async () => {
    const { ui } = await setup();
    await userEvent.click(ui.getByRole("radio", { name: "pets" }));
    const slider = ui.getByLabelText("Guidance");
    expect(slider).toBeEnabled(); // its first class is chosen
    await userEvent.selectOptions(ui.getByLabelText("Class"), "any (unconditional)");
    expect(slider).toHaveAttribute("type", "range");
    expect(slider).toHaveAttribute("min", "0");
    expect(slider).toHaveAttribute("max", "10");
    expect(slider).toHaveAttribute("step", "0.5");
    expect(slider).toHaveValue("3");
    expect(slider).toBeDisabled();
    expect(slider).toHaveAccessibleDescription(
      "1 = the class as trained, higher = more typical, 0 = ignore the class",
    );

    await userEvent.selectOptions(ui.getByLabelText("Class"), "dog");
    expect(slider).toBeEnabled();
    fireEvent.change(slider, { target: { value: "2.5" } });
    expect(slider).toHaveValue("2.5");
    expect(within(slider.parentElement!).getByRole("status")).toHaveTextContent("2.5");

    await userEvent.selectOptions(ui.getByLabelText("Class"), "any (unconditional)");
    expect(slider).toBeDisabled();
  });

  it("opens on each model's own default guidance until the slider is moved", async () => {
    const { calls, ui } = await renderGenerate([...MODELS, PETS, BOOTS], {
      "POST api/generate": jobs(),
    });
    await userEvent.click(ui.getByRole("radio", { name: "boots" }));
    const slider = () => ui.getByLabelText("Guidance");
    expect(slider()).toHaveValue("4.5");
    await userEvent.click(ui.getByRole("radio", { name: "pets" }));
    expect(slider()).toHaveValue("3");
    await userEvent.click(ui.getByRole("radio", { name: "boots" }));
    await userEvent.selectOptions(ui.getByLabelText("Class"), "bag");
    await userEvent.type(ui.getByLabelText("Seed"), "5");
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    expect(JSON.parse(posted(calls)[0]!)).toMatchObject({ label: "bag", guidance: 4.5 });
    done();

    // moved, it stays where it was put for another model
    fireEvent.change(slider(), { target: { value: "2" } });
    await userEvent.click(ui.getByRole("radio", { name: "pets" }));
    expect(slider()).toHaveValue("2");
  });

  it("sends the label and guidance only when a class is chosen", async () => {
    const { calls, ui } = await setup({ "POST api/generate": jobs() });
    await userEvent.click(ui.getByRole("radio", { name: "pets" }));
    await userEvent.type(ui.getByLabelText("Seed"), "5");
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    expect(posted(calls)).toEqual([
      '{"model":"pets","n":4,"sampler":"dpmpp2m","steps":20,"eta":0,"label":"cat","guidance":3,"seed":5}',
    ]);
    done();

    await userEvent.selectOptions(ui.getByLabelText("Class"), "any (unconditional)");
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    expect(posted(calls)[1]).toBe(
      '{"model":"pets","n":4,"sampler":"dpmpp2m","steps":20,"eta":0,"seed":5}',
    );
    done();

    await userEvent.selectOptions(ui.getByLabelText("Class"), "dog");
    fireEvent.change(ui.getByLabelText("Guidance"), { target: { value: "2" } });
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    expect(posted(calls)[2]).toBe(
      '{"model":"pets","n":4,"sampler":"dpmpp2m","steps":20,"eta":0,"label":"dog","guidance":2,"seed":5}',
    );
    done();

    // an unconditional model never gets the class chosen for another
    await userEvent.click(ui.getByRole("radio", { name: "faces" }));
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    expect(JSON.parse(posted(calls)[3]!)).not.toHaveProperty("label");
    expect(JSON.parse(posted(calls)[3]!)).not.toHaveProperty("guidance");

    // back to the conditional model: its class is still chosen
    await userEvent.click(ui.getByRole("radio", { name: "pets" }));
    expect(ui.getByLabelText("Class")).toHaveValue("dog");
    expect(ui.getByLabelText("Guidance")).toHaveValue("2");
  });

  it("shows the class in the results and history, and loads it back", async () => {
    const { ui } = await setup({
      "POST api/generate": {
        status: 202,
        body: job({ model: "pets", seed: 5, label: "dog", guidance: 2 }),
      },
    });
    await userEvent.click(ui.getByRole("radio", { name: "pets" }));
    await userEvent.selectOptions(ui.getByLabelText("Class"), "dog");
    fireEvent.change(ui.getByLabelText("Guidance"), { target: { value: "2" } });
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    done();
    const history = ui.getByRole("heading", { name: "History" }).closest("section")!;
    expect(
      within(history).getByText("pets: class dog, guidance 2, dpmpp2m, 20 steps, seed 5"),
    ).toBeInTheDocument();
    expect(ui.getByRole("link", { name: "Download image 0" })).toHaveAttribute(
      "download",
      "pets-dog-guidance2-dpmpp2m-20steps-seed5-0.png",
    );

    await userEvent.selectOptions(ui.getByLabelText("Class"), "cat");
    await userEvent.click(ui.getByRole("radio", { name: "faces" }));
    await userEvent.click(within(history).getByRole("button", { name: "Use settings" }));
    expect(ui.getByRole("radio", { name: "pets" })).toBeChecked();
    expect(ui.getByLabelText("Class")).toHaveValue("dog");
    expect(ui.getByLabelText("Guidance")).toHaveValue("2");
  });

  it.each([
    ["label", "Class", "Label 'fish' is not one of pets's labels: cat, dog, bird."],
    ["guidance", "Guidance", "Guidance must be at most 20."],
  ])("shows the server's refusal of %s next to its field", async (field, name, message) => {
    const refusal = { error: { status: 422, message, field } };
    const { ui } = await setup({ "POST api/generate": { status: 422, body: refusal } });
    await userEvent.click(ui.getByRole("radio", { name: "pets" }));
    await userEvent.selectOptions(ui.getByLabelText("Class"), "bird");
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    expect(await ui.findByRole("alert")).toHaveTextContent(message);
    const control = ui.getByLabelText(name);
    await waitFor(() => expect(control).toHaveAttribute("aria-invalid", "true"));
    expect(control).toHaveAccessibleDescription(expect.stringContaining(message));
    // changed since: the refusal no longer applies
    if (field === "label") await userEvent.selectOptions(ui.getByLabelText("Class"), "cat");
    else fireEvent.change(control, { target: { value: "4" } });
    expect(control).not.toHaveAttribute("aria-invalid");
  });
});

describe("class settings", () => {
  const values = { ...defaultValues(LIMITS), seed: "1" };

  it("carry a label and its guidance only when a class is chosen", () => {
    expect(toSettings("pets", values, "20")).not.toHaveProperty("label");
    const dog = toSettings("pets", { ...values, label: "dog", guidance: "0" }, "20");
    expect(dog).toMatchObject({ label: "dog", guidance: 0 });
    expect(requestBody(dog)).toBe(
      '{"model":"pets","n":4,"sampler":"dpmpp2m","steps":20,"eta":0,"label":"dog","guidance":0,"seed":1}',
    );
    expect(settingsLabel(dog)).toBe("pets: class dog, guidance 0, dpmpp2m, 20 steps, seed 1");
    expect(imageFileName(dog, 3)).toBe("pets-dog-guidance0-dpmpp2m-20steps-seed1-3.png");
    expect(toValues(dog)).toMatchObject({ label: "dog", guidance: "0" });
    expect(toValues(toSettings("faces", values, "20"))).toMatchObject({ label: "", guidance: "3" });
  });

  it("check the guidance with a class only", () => {
    const wide = { max: 1000, why: "" };
    expect(validate({ ...values, guidance: "x" }, LIMITS, wide, "20")).toEqual({});
    const bad = validate({ ...values, label: "dog", guidance: "11" }, LIMITS, wide, "20");
    expect(bad.guidance).toBe("Guidance must be from 0 to 10.");
  });
});
