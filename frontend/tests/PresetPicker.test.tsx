import { act } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { CURVED, FakeEventSource, job, MODELS, PNG } from "./fakes";
import { posted, renderGenerate } from "./generatePage";

let next = 0;
const setup = () =>
  renderGenerate([...MODELS, CURVED], {
    "POST api/generate": () => ({ status: 202, body: job({ id: `job${++next}`, seed: 5 }) }),
  });
/** Finish the last job, so that the next one can be asked for. */
const done = () =>
  act(() => FakeEventSource.last().emit("done", { images: [{ index: 0, url: "", png: PNG }] }));

describe("the sampling presets", () => {
  it("appear for a model with a measured curve only, its default chosen", async () => {
    const { ui } = await setup();
    expect(ui.queryByRole("radiogroup", { name: "Sampling preset" })).not.toBeInTheDocument();

    await userEvent.click(ui.getByRole("radio", { name: "curved" }));
    const balanced = ui.getByRole("radio", { name: /^Balanced/ });
    expect(balanced).toHaveAttribute("aria-checked", "true");
    expect(balanced).toHaveTextContent("DDIM, 10 network calls · FID 84.0");
    expect(ui.getByRole("radio", { name: /^Custom/ })).toHaveAttribute("aria-checked", "false");
    expect(ui.getByLabelText("Sampler")).toHaveValue("ddim");
    expect(ui.getByLabelText("Steps")).toHaveValue("10");

    await userEvent.click(ui.getByRole("radio", { name: "faces" }));
    expect(ui.queryByRole("radiogroup", { name: "Sampling preset" })).not.toBeInTheDocument();
    expect(ui.getByLabelText("Sampler")).toHaveValue("dpmpp2m");
    expect(ui.getByLabelText("Steps")).toHaveValue("20");
  });

  it("send the preset's sampler, steps and spacing; editing them makes custom settings", async () => {
    const { calls, ui } = await setup();
    await userEvent.click(ui.getByRole("radio", { name: "curved" }));
    await userEvent.type(ui.getByLabelText("Seed"), "5");
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    expect(posted(calls)[0]).toBe(
      '{"model":"curved","n":4,"sampler":"ddim","steps":10,"eta":0,"spacing":"linear","seed":5}',
    );
    done();

    await userEvent.click(ui.getByRole("radio", { name: /^Best/ }));
    expect(ui.getByLabelText("Sampler")).toHaveValue("unipc2");
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    expect(posted(calls)[1]).toBe(
      '{"model":"curved","n":4,"sampler":"unipc2","steps":15,"eta":0,"spacing":"karras","seed":5}',
    );
    done();

    await userEvent.clear(ui.getByLabelText("Steps"));
    await userEvent.type(ui.getByLabelText("Steps"), "12");
    expect(ui.getByRole("radio", { name: /^Custom/ })).toHaveAttribute("aria-checked", "true");
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    expect(posted(calls)[2]).toBe(
      '{"model":"curved","n":4,"sampler":"unipc2","steps":12,"eta":0,"spacing":"karras","seed":5}',
    );
    done();

    await userEvent.selectOptions(ui.getByLabelText("Sampler"), "dpmpp2m");
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    expect(posted(calls)[3]).toBe(
      '{"model":"curved","n":4,"sampler":"dpmpp2m","steps":20,"eta":0,"seed":5}',
    );

    await userEvent.click(ui.getByRole("radio", { name: /^Fast/ }));
    expect(ui.getByLabelText("Steps")).toHaveValue("5");
    await userEvent.click(ui.getByRole("radio", { name: /^Custom/ }));
    expect(ui.getByLabelText("Sampler")).toHaveValue("ddim");
    expect(ui.getByLabelText("Steps")).toHaveValue("5");
  });
});
