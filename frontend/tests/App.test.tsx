import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it, vi } from "vitest";
import App from "../src/App";
import { FakeEventSource, job, MODELS, openapiDocument, PNG, stubFetch } from "./fakes";

const BASE = {
  "GET api/health": { body: { status: "ok", version: "0.1.0" } },
  "GET api/ready": { body: { ready: true, workers: true, valid_models: 2 } },
  "GET api/models": { body: MODELS },
  "GET api/openapi.json": { body: openapiDocument() }, // --max-n 8 --max-steps 500
};

async function setup(routes = {}) {
  FakeEventSource.install();
  const calls = stubFetch({ ...BASE, ...routes });
  render(<App />);
  const panel = await screen.findByRole("tabpanel", { name: "Generate" }); // once limits load
  return { calls, panel, ui: within(panel) };
}

const emit = (name: string, data: unknown) => act(() => FakeEventSource.last().emit(name, data));

beforeEach(() => {
  vi.stubGlobal(
    "URL",
    Object.assign(URL, { createObjectURL: vi.fn(() => "blob:x"), revokeObjectURL: vi.fn() }),
  );
});

describe("the page", () => {
  it("generates with live progress, preview and results, and keeps a history", async () => {
    const { calls, ui } = await setup({
      "POST api/generate": { status: 202, body: job({ seed: 123, steps: 30 }) },
    });
    await waitFor(() => expect(ui.getByRole("radio", { name: "faces" })).toBeChecked());
    expect(ui.getByText("1 to 8")).toBeInTheDocument(); // the server's --max-n
    await userEvent.type(ui.getByLabelText("Seed"), "123");
    await userEvent.clear(ui.getByLabelText("Steps"));
    await userEvent.type(ui.getByLabelText("Steps"), "30");
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));

    const post = calls.find((c) => c.method === "POST");
    expect(post?.body).toBe(
      '{"model":"faces","n":4,"sampler":"dpmpp2m","steps":30,"eta":0,"seed":123}',
    );
    expect(FakeEventSource.last().url).toBe("api/jobs/job1/events");

    emit("progress", { status: "running", step: 3, total: 30, images_done: 0, eta_seconds: 2 });
    expect(ui.getByTestId("progress-text")).toHaveTextContent(
      "Step 3 / 30Images 0 / 4About 2 s left",
    );
    emit("preview", { id: "job1", step: 3, png: PNG });
    expect(ui.getByRole("img", { name: "Denoising preview at step 3" })).toBeInTheDocument();

    const images = [0, 1].map((index) => ({
      index,
      url: `/api/jobs/job1/images/${index}.png`,
      png: PNG,
    }));
    emit("done", { id: "job1", images });
    expect(FakeEventSource.last().readyState).toBe(FakeEventSource.CLOSED);
    expect(ui.getByRole("heading", { name: "Results" })).toBeInTheDocument();
    expect(ui.getByRole("img", { name: "Image 1 of seed 123, faces" })).toBeInTheDocument();
    expect(ui.getByRole("link", { name: "Download image 0" })).toHaveAttribute(
      "download",
      "faces-dpmpp2m-30steps-seed123-0.png",
    );
    const history = ui.getByRole("heading", { name: "History" }).closest("section")!;
    expect(within(history).getByText("faces: dpmpp2m, 30 steps, seed 123")).toBeInTheDocument();

    await userEvent.click(ui.getByRole("button", { name: /Download all \(zip, 2\)/ }));
    const blob = vi.mocked(URL.createObjectURL).mock.calls[0][0] as Blob;
    expect(blob.type).toBe("application/zip");
  });

  it("fills in the seed the server picked, so the images can be drawn again", async () => {
    const { ui } = await setup({ "POST api/generate": { status: 202, body: job({ seed: 99 }) } });
    await waitFor(() => expect(ui.getByRole("radio", { name: "faces" })).toBeChecked());
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    emit("done", { id: "job1", images: [{ index: 0, url: "", png: PNG }] });
    expect(ui.getByText("faces: dpmpp2m, 20 steps, seed 99, image 0")).toBeInTheDocument();
  });

  it("shows the server's refusal next to the field it names", async () => {
    const refusal = {
      error: {
        status: 422,
        message: "steps must be at most T=1000 for model 'faces'",
        field: "steps",
      },
    };
    const { ui } = await setup({ "POST api/generate": { status: 422, body: refusal } });
    await waitFor(() => expect(ui.getByRole("radio", { name: "faces" })).toBeChecked());
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    expect(await ui.findByRole("alert")).toHaveTextContent(
      "Steps must be at most T=1000 for model 'faces'.",
    );
    await waitFor(() =>
      expect(ui.getByLabelText("Steps")).toHaveAccessibleDescription(
        /Steps must be at most T=1000/,
      ),
    );
  });

  it("reads the model list again when the chosen model has gone", async () => {
    const gone = { error: { status: 404, message: "no model named 'faces'", field: "model" } };
    const { calls, ui } = await setup({ "POST api/generate": { status: 404, body: gone } });
    await waitFor(() => expect(ui.getByRole("radio", { name: "faces" })).toBeChecked());
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    expect(await ui.findByRole("alert")).toHaveTextContent("No model named 'faces'.");
    await waitFor(() => expect(calls.filter((c) => c.url === "api/models")).toHaveLength(2));
  });

  it("blocks Generate while a value is invalid, saying why", async () => {
    const { ui } = await setup();
    await waitFor(() => expect(ui.getByRole("radio", { name: "faces" })).toBeChecked());
    await userEvent.click(ui.getByRole("radio", { name: "digits" }));
    await userEvent.clear(ui.getByLabelText("Steps"));
    await userEvent.type(ui.getByLabelText("Steps"), "101");
    expect(ui.getByText("Steps must be at most 100 (digits has T = 100).")).toBeInTheDocument();
    expect(ui.getByRole("button", { name: "Generate" })).toBeDisabled();
    expect(ui.getByRole("button", { name: "Generate" })).toHaveAccessibleDescription(
      "Fix the settings marked in red first.",
    );
  });

  it("cancels a running job", async () => {
    const { calls, ui } = await setup({
      "POST api/generate": { status: 202, body: job() },
      "DELETE api/jobs/job1": { body: job({ status: "cancelled", stopped_at_step: 4 }) },
    });
    await waitFor(() => expect(ui.getByRole("radio", { name: "faces" })).toBeChecked());
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    emit("progress", { status: "running", step: 4, total: 20, images_done: 0, eta_seconds: 9 });
    await userEvent.click(ui.getByRole("button", { name: "Cancel" }));
    expect(calls.some((c) => c.method === "DELETE" && c.url === "api/jobs/job1")).toBe(true);
    expect(await ui.findByText("Cancelled. Stopped at step 4.")).toBeInTheDocument();
    expect(ui.getByRole("button", { name: "Generate" })).toBeEnabled();
  });

  it("recovers the images when the event stream is lost", async () => {
    const { ui } = await setup({
      "POST api/generate": { status: 202, body: job({ n: 1 }) },
      "GET api/jobs/job1": { body: job({ n: 1, status: "done" }) },
      "GET api/jobs/job1/images/0.png": { body: "png-bytes" },
    });
    await waitFor(() => expect(ui.getByRole("radio", { name: "faces" })).toBeChecked());
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    act(() => FakeEventSource.last().fail());
    expect(await ui.findByRole("img", { name: "Image 0 of seed 7, faces" })).toHaveAttribute(
      "src",
      `data:image/png;base64,${btoa("png-bytes")}`,
    );
  });

  it("reports a job that failed on the server", async () => {
    const { ui } = await setup({ "POST api/generate": { status: 202, body: job() } });
    await waitFor(() => expect(ui.getByRole("radio", { name: "faces" })).toBeChecked());
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    emit("failed", { id: "job1", error: { status: 500, message: "model 'faces' produced NaN" } });
    expect(ui.getByRole("alert")).toHaveTextContent("The job failed: model 'faces' produced NaN");
  });

  it("loads an earlier generation's settings back into the form", async () => {
    const { ui } = await setup({
      "POST api/generate": {
        status: 202,
        body: job({ model: "digits", sampler: "ddim", steps: 40, eta: 0.5, seed: 5 }),
      },
    });
    await waitFor(() => expect(ui.getByRole("radio", { name: "faces" })).toBeChecked());
    await userEvent.click(ui.getByRole("radio", { name: "digits" }));
    await userEvent.selectOptions(ui.getByLabelText("Sampler"), "ddim");
    await userEvent.click(ui.getByRole("button", { name: "Generate" }));
    emit("done", { id: "job1", images: [{ index: 0, url: "", png: PNG }] });
    await userEvent.click(ui.getByRole("radio", { name: "faces" }));
    await userEvent.selectOptions(ui.getByLabelText("Sampler"), "dpmpp2m");
    await userEvent.click(ui.getByRole("button", { name: "Use settings" }));
    expect(ui.getByRole("radio", { name: "digits" })).toBeChecked();
    expect(ui.getByLabelText("Sampler")).toHaveValue("ddim");
    expect(ui.getByLabelText("Steps")).toHaveValue("40");
    expect(ui.getByLabelText("Seed")).toHaveValue("5");
  });
});

describe("the server's limits", () => {
  it("waits for them instead of assuming any, and retries when they cannot be read", async () => {
    FakeEventSource.install();
    const { "GET api/openapi.json": _, ...rest } = BASE;
    stubFetch(rest);
    render(<App />);
    expect(screen.getByText("Reading the server's settings…")).toBeInTheDocument();
    expect(await screen.findByRole("alert")).toHaveTextContent(
      /Could not read the server's limits: Cannot reach the picodiff server/,
    );
    expect(screen.queryByRole("button", { name: "Generate" })).not.toBeInTheDocument();
  });
});

describe("the compare view", () => {
  it("sends one seed through two models", async () => {
    FakeEventSource.install();
    let next = 0;
    const calls = stubFetch({
      ...BASE,
      "POST api/generate": (_url, init) => {
        const body = JSON.parse(String(init?.body));
        return {
          status: 202,
          body: job({ id: `job${next++}`, model: body.model, seed: body.seed }),
        };
      },
    });
    render(<App />);
    await userEvent.click(await screen.findByRole("tab", { name: "Compare models" }));
    const ui = within(screen.getByRole("tabpanel", { name: "Compare models" }));
    await waitFor(() => expect(ui.getByLabelText("Right model")).toHaveValue("digits"));
    expect(ui.getByLabelText("Left model")).toHaveValue("faces");
    await userEvent.click(ui.getByRole("button", { name: "Compare" }));
    const bodies = calls.filter((c) => c.method === "POST").map((c) => JSON.parse(c.body!));
    expect(bodies.map((b) => b.model)).toEqual(["faces", "digits"]);
    expect(bodies[0].seed).toBe(bodies[1].seed);
    expect(bodies[0].steps).toBe(20);
    expect(ui.getByLabelText("Seed")).toHaveValue(String(bodies[0].seed));
    for (const source of FakeEventSource.instances) {
      act(() => source.emit("done", { images: [{ index: 0, url: "", png: PNG }] }));
    }
    expect(ui.getByRole("heading", { name: "Left: faces" })).toBeInTheDocument();
    expect(ui.getByRole("heading", { name: "Right: digits" })).toBeInTheDocument();
  });
});
