/** The page rendered against a fake server with some models, on its Generate tab. */
import { render, screen, waitFor, within } from "@testing-library/react";
import { expect } from "vitest";
import type { ModelInfo } from "../src/api/types";
import App from "../src/App";
import { FakeEventSource, openapiDocument, stubFetch } from "./fakes";

export async function renderGenerate(models: ModelInfo[], routes = {}) {
  FakeEventSource.install();
  const calls = stubFetch({
    "GET api/health": { body: { status: "ok", version: "0.1.0" } },
    "GET api/ready": { body: { ready: true, workers: true, valid_models: models.length } },
    "GET api/models": { body: models },
    "GET api/openapi.json": { body: openapiDocument() },
    ...routes,
  });
  render(<App />);
  const panel = await screen.findByRole("tabpanel", { name: "Generate" });
  const ui = within(panel);
  await waitFor(() => expect(ui.getByRole("radio", { name: "faces" })).toBeChecked());
  return { calls, ui };
}

/** The bodies of the POSTs made so far. */
export const posted = (calls: { method: string; body?: string }[]) =>
  calls.filter((c) => c.method === "POST").map((c) => c.body);
