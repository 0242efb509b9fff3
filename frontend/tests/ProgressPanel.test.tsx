import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ProgressPanel } from "../src/components/ProgressPanel";
import type { JobState } from "../src/hooks/useJob";
import { PNG } from "./fakes";

const settings = { model: "faces", n: 4, sampler: "dpmpp2m", steps: 20, eta: 0, seed: "7" };
const running: JobState = {
  phase: "running",
  jobId: "j",
  settings,
  progress: { step: 5, total: 20, images_done: 0, eta_seconds: 75 },
  preview: { png: PNG, step: 5 },
};

describe("ProgressPanel", () => {
  it("shows step / total, ETA and the live preview", () => {
    render(<ProgressPanel state={running} onCancel={() => {}} />);
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuetext", "step 5 of 20");
    expect(screen.getByTestId("progress-text")).toHaveTextContent(
      "Step 5 / 20Images 0 / 4About 1 min 15 s left",
    );
    expect(screen.getByRole("img", { name: "Denoising preview at step 5" })).toBeInTheDocument();
  });

  it("cancels, once", async () => {
    const onCancel = vi.fn();
    const { rerender } = render(<ProgressPanel state={running} onCancel={onCancel} />);
    await userEvent.click(screen.getByRole("button", { name: "Cancel" }));
    expect(onCancel).toHaveBeenCalledOnce();
    rerender(<ProgressPanel state={{ ...running, cancelling: true }} onCancel={onCancel} />);
    expect(screen.getByRole("button", { name: "Cancelling…" })).toBeDisabled();
  });

  it("says where a cancelled job stopped and why a job failed", () => {
    const { rerender } = render(
      <ProgressPanel state={{ phase: "cancelled", stoppedAt: 9 }} onCancel={() => {}} />,
    );
    expect(screen.getByText("Cancelled. Stopped at step 9.")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Cancel" })).toBeNull();
    rerender(
      <ProgressPanel
        state={{ phase: "failed", error: "The job failed: NaN." }}
        onCancel={() => {}}
      />,
    );
    expect(screen.getByRole("alert")).toHaveTextContent("The job failed: NaN.");
  });

  it("shows nothing when idle or done", () => {
    const { container } = render(<ProgressPanel state={{ phase: "idle" }} onCancel={() => {}} />);
    expect(container).toBeEmptyDOMElement();
  });
});
