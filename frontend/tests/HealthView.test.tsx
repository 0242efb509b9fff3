import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type uPlot from "uplot";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ModelInfo } from "../src/api/types";
import App from "../src/App";
import { timeRange } from "../src/components/FidChart";
import { HealthView } from "../src/components/HealthView";
import type { ModelsState } from "../src/hooks/useModels";
import { HEALTH_REFRESH_MS, NO_REFERENCE, type ModelHealth } from "../src/lib/health";
import { HEALTH, model, MODELS, openapiDocument, stubFetch } from "./fakes";

// jsdom draws nothing: a stand-in for uPlot that keeps what the page hands it
const plots = vi.hoisted(() => [] as { opts: uPlot.Options; data: uPlot.AlignedData }[]);
vi.mock("uplot", () => ({
  default: class FakePlot {
    static pxRatio = 1;
    static rangeNum = (min: number, max: number) => [min, max];
    destroyed = false;
    constructor(
      readonly opts: uPlot.Options,
      readonly data: uPlot.AlignedData,
    ) {
      plots.push(this);
    }
    setSize() {}
    destroy() {
      this.destroyed = true;
    }
  },
}));

const CHECKS = [
  { finished: 1_700_000_000, fid: 14.2, kid: 0.011, n: 12 },
  { finished: 1_700_003_600, fid: 18.75, kid: 0.018, n: 12 },
  { finished: 1_700_007_200, fid: 31.5, kid: 0.031, n: 12 },
];

const SICK: ModelHealth = {
  jobs: { done: 6, failed: 2, cancelled: 1 },
  outputs: {
    status: "drifting",
    drift: 1.52,
    worst: "eps_rms@0.5T: 1.277 vs 0.299 recorded",
    nan_batches: 3,
    outputs: {
      images: 64,
      clipped: 0.012,
      mean: [0.1, 0.0, -0.1],
      std: [0.5, 0.5, 0.5],
      eps_rms: { "0.5": 1.277 },
    },
  },
  quality: {
    reference: true,
    latest: { ...CHECKS[2], seed: 7, sampler: "ddim", steps: 50 },
    last_failure: { reason: "the reference store is gone", at: 1_700_010_000 },
    history: CHECKS,
  },
};

const REFERENCE_ONLY: ModelHealth = { ...HEALTH, quality: { ...HEALTH.quality, reference: true } };

function catalog(models: ModelInfo[]): ModelsState {
  return { models, loading: false, reload: vi.fn(), refresh: vi.fn() };
}

function card(name: string) {
  return screen.getByRole("article", { name });
}

/** The value next to a term of a card's definition list. */
function fact(scope: HTMLElement, term: string): HTMLElement {
  return within(scope).getByText(term, { selector: "dt" }).nextElementSibling as HTMLElement;
}

/** Time for a chart to be drawn, if one were going to be. */
const settle = () => act(() => new Promise((resolve) => setTimeout(resolve, 100)));

beforeEach(() => {
  plots.length = 0;
  // a canvas context, so that the chart is created (by the stand-in above)
  vi.spyOn(HTMLCanvasElement.prototype, "getContext").mockReturnValue({} as never);
});

describe("the Health view", () => {
  it("shows a model's outputs, jobs and live FID against the recorded one", () => {
    render(<HealthView catalog={catalog([model({ fid_threshold: 30, health: SICK })])} />);
    const faces = card("faces");
    expect(within(faces).getByText("Outputs: drifting")).toBeInTheDocument();
    expect(fact(faces, "Drift")).toHaveTextContent(
      "1.52 (beyond tolerance)worst: eps_rms@0.5T: 1.277 vs 0.299 recorded",
    );
    expect(fact(faces, "NaN batches")).toHaveTextContent(/^3$/);
    expect(fact(faces, "Jobs")).toHaveTextContent("6 done / 2 failed / 1 cancelled");
    expect(fact(faces, "Failure rate")).toHaveTextContent("25.0 % failed");
    expect(fact(faces, "Live FID")).toHaveTextContent("31.50 (above the threshold)");
    expect(fact(faces, "Recorded FID")).toHaveTextContent(/^12\.50$/);
    expect(fact(faces, "Threshold")).toHaveTextContent(/^30\.00$/);
    expect(fact(faces, "Last check")).toHaveTextContent(/, n = 12, KID 0\.0310, ddim, 50 steps$/);
    expect(fact(faces, "Last failure")).toHaveTextContent(/^the reference store is gone \(/);
    expect(
      within(faces).getByRole("figure", { name: "Live FID of faces over time" }),
    ).toBeVisible();
  });

  it("says why a model has no FID history", async () => {
    const models = [
      model({ name: "plain", health: HEALTH }),
      model({ name: "waiting", health: REFERENCE_ONLY }),
    ];
    render(<HealthView catalog={catalog(models)} />);
    const plain = card("plain");
    expect(within(plain).getByText(`No FID history: ${NO_REFERENCE}.`)).toBeInTheDocument();
    expect(NO_REFERENCE).toBe(
      "quality checks need a reference store in the model's metadata (see the README, Monitoring)",
    );
    expect(fact(plain, "Live FID")).toHaveTextContent("not checked");
    expect(fact(plain, "Failure rate")).toHaveTextContent("no finished jobs");
    expect(within(plain).getByText("Outputs: too few images")).toBeInTheDocument();
    const waiting = card("waiting");
    expect(within(waiting).getByText("No FID history: no check yet.")).toBeInTheDocument();
    expect(fact(waiting, "Live FID")).toHaveTextContent("no check yet");
    expect(screen.queryByRole("figure")).not.toBeInTheDocument();
    await settle();
    expect(plots).toHaveLength(0);
  });

  it("lists invalid models with the reason, and no card for them", () => {
    render(<HealthView catalog={catalog(MODELS)} />);
    expect(
      screen.getAllByRole("article").map((a) => a.getAttribute("aria-labelledby")),
    ).toHaveLength(2);
    expect(screen.queryByRole("article", { name: "broken" })).not.toBeInTheDocument();
    const invalid = screen.getByRole("region", { name: "Invalid models" });
    expect(invalid).toHaveTextContent(
      "broken: model.safetensors: corrupt or truncated safetensors file",
    );
  });

  it("hands the chart the FID history, with the reference lines in its range", async () => {
    render(<HealthView catalog={catalog([model({ fid_threshold: 40, health: SICK })])} />);
    await waitFor(() => expect(plots).toHaveLength(1)); // uPlot loads with the first plot
    const [{ data, opts }] = plots;
    expect(data).toEqual([CHECKS.map((c) => c.finished), CHECKS.map((c) => c.fid)]);
    expect(opts.scales?.x?.time).toBe(true);
    expect(opts.series[1].label).toBe("live FID");
    // y spans the checks (14.2 .. 31.5) and the recorded FID (12.5) and threshold (40)
    const range = opts.scales?.y?.range as unknown as (
      u: uPlot,
      min: number,
      max: number,
    ) => number[];
    expect(range({} as uPlot, 14.2, 31.5)).toEqual([12.5, 40]);
    // x spans the checks' times with a margin; one check gets an hour around it
    const x = opts.scales?.x?.range as unknown as (u: uPlot, min: number, max: number) => number[];
    expect(x({ data } as uPlot, 0, 0)).toEqual([1_700_000_000 - 288, 1_700_007_200 + 288]);
    expect(timeRange([1_700_000_000], 1_700_000_000, 1_786_400_000)).toEqual([
      1_699_998_200, 1_700_001_800,
    ]);
    const key = within(card("faces")).getByRole("list", { name: "Key" });
    expect(key).toHaveTextContent("live FIDrecorded FID 12.50FID threshold 40.00");
    const rows = within(card("faces")).getAllByRole("row").slice(1);
    expect(rows.map((r) => r.children[1].textContent)).toEqual(["14.20", "18.75", "31.50"]);
  });

  it("draws again only when the numbers change", async () => {
    const first = [model({ health: SICK })];
    const { rerender } = render(<HealthView catalog={catalog(first)} />);
    await waitFor(() => expect(plots).toHaveLength(1));
    rerender(<HealthView catalog={catalog(structuredClone(first))} />); // a refresh, same data
    await settle();
    expect(plots).toHaveLength(1);
    const more = structuredClone(SICK);
    more.quality.history.push({ finished: 1_700_010_800, fid: 20, kid: 0.02, n: 12 });
    rerender(<HealthView catalog={catalog([model({ health: more })])} />);
    await waitFor(() => expect(plots).toHaveLength(2));
    expect(plots[1].data[1]).toEqual([14.2, 18.75, 31.5, 20]);
    expect((plots[0] as unknown as { destroyed: boolean }).destroyed).toBe(true);
  });

  it("leaves the plot out where nothing can draw, keeping the numbers", async () => {
    vi.mocked(HTMLCanvasElement.prototype.getContext).mockReturnValue(null);
    render(<HealthView catalog={catalog([model({ health: SICK })])} />);
    await settle();
    expect(plots).toHaveLength(0);
    expect(within(card("faces")).getAllByRole("row")).toHaveLength(1 + CHECKS.length);
  });
});

describe("the Health tab", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("fetches the models again every 10 s while it is shown", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const models = [model({ fid_threshold: 30, health: SICK })];
    const calls = stubFetch({
      "GET api/health": { body: { status: "ok", version: "0.1.0" } },
      "GET api/ready": { body: { ready: true, workers: true, valid_models: 1 } },
      "GET api/models": { body: models },
      "GET api/openapi.json": { body: openapiDocument() },
    });
    const fetches = () => calls.filter((c) => c.url === "api/models").length;
    render(<App />);
    const tab = await screen.findByRole("tab", { name: "Health" });
    fireEvent.click(tab);
    expect(tab).toHaveAttribute("aria-selected", "true");
    const panel = screen.getByRole("tabpanel", { name: "Health" });
    expect(await within(panel).findByText("Outputs: drifting")).toBeVisible();
    const shown = fetches();
    await act(() => vi.advanceTimersByTimeAsync(HEALTH_REFRESH_MS - 100));
    expect(fetches()).toBe(shown);
    await act(() => vi.advanceTimersByTimeAsync(200));
    expect(fetches()).toBe(shown + 1);
    await act(() => vi.advanceTimersByTimeAsync(HEALTH_REFRESH_MS));
    expect(fetches()).toBe(shown + 2);

    fireEvent.click(screen.getByRole("tab", { name: "Generate" })); // back to every 15 s
    const left = fetches();
    await act(() => vi.advanceTimersByTimeAsync(HEALTH_REFRESH_MS + 100));
    expect(fetches()).toBe(left);
  });

  it("is reached with the arrow keys like the other tabs", async () => {
    stubFetch({
      "GET api/health": { body: { status: "ok", version: "0.1.0" } },
      "GET api/ready": { body: { ready: true, workers: true, valid_models: 2 } },
      "GET api/models": { body: MODELS },
      "GET api/openapi.json": { body: openapiDocument() },
    });
    render(<App />);
    const compare = await screen.findByRole("tab", { name: "Compare models" });
    compare.focus();
    await userEvent.keyboard("{ArrowRight}");
    expect(screen.getByRole("tab", { name: "Health" })).toHaveFocus();
    const panel = screen.getByRole("tabpanel", { name: "Health" });
    expect(await within(panel).findByRole("article", { name: "faces" })).toBeVisible();
  });
});
