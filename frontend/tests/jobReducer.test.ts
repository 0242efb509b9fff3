import { describe, expect, it } from "vitest";
import { jobReducer, type JobState } from "../src/hooks/useJob";
import type { Settings } from "../src/lib/settings";
import { job } from "./fakes";

const settings: Settings = {
  model: "faces",
  n: 2,
  sampler: "dpmpp2m",
  steps: 20,
  eta: 0,
  seed: "7",
};
const progress = { step: 3, total: 20, images_done: 0, eta_seconds: 2 };

describe("jobReducer", () => {
  it("walks submitted -> accepted -> progressed -> finished", () => {
    let state: JobState = { phase: "idle" };
    state = jobReducer(state, { type: "submitted", settings });
    expect(state).toEqual({ phase: "submitting", settings });
    state = jobReducer(state, { type: "accepted", job: job() as never, settings, at: 5 });
    expect(state).toMatchObject({ phase: "queued", jobId: "job1", startedAt: 5 });
    state = jobReducer(state, { type: "progressed", id: "job1", running: true, progress });
    expect(state).toMatchObject({ phase: "running", progress });
    const result = { jobId: "job1", settings, version: "v1", images: [], finishedAt: 9 };
    state = jobReducer(state, {
      type: "finished",
      id: "job1",
      result: { ...result, source: "generate" },
    });
    expect(state.phase).toBe("done");
  });

  it("ignores the events of a job it no longer follows", () => {
    const following: JobState = { phase: "running", jobId: "job2", settings };
    for (const action of [
      { type: "progressed", id: "job1", running: true, progress },
      { type: "failed", id: "job1", error: "old" },
      { type: "cancelled", id: "job1", stoppedAt: 3 },
    ] as const) {
      expect(jobReducer(following, action)).toBe(following);
    }
  });

  it("keeps a refusal's field errors and a failed cancel's reason", () => {
    const submitting = jobReducer({ phase: "idle" }, { type: "submitted", settings });
    const refused = jobReducer(submitting, {
      type: "rejected",
      error: "Steps must be at most 40.",
      fieldErrors: { steps: "Steps must be at most 40." },
    });
    expect(refused).toMatchObject({ phase: "failed", settings, fieldErrors: { steps: /40/ } });
    const running: JobState = { phase: "running", jobId: "job1" };
    const asked = jobReducer(running, { type: "cancelling", id: "job1" });
    expect(asked.cancelling).toBe(true);
    const kept = jobReducer(asked, { type: "cancel_failed", id: "job1", error: "offline" });
    expect(kept).toMatchObject({ phase: "running", cancelling: false, error: "offline" });
  });
});
