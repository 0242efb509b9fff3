import { useEffect, useId, useRef } from "react";
import type uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { fidSeries, formatFid, formatWhen, type QualityCheck } from "../lib/health";

interface Props {
  history: QualityCheck[]; // oldest first
  recorded: number | null; // the FID in the model's metadata
  threshold: number | null;
  title: string; // what the figure is, for screen readers too
}

const HEIGHT = 180;
const LIVE = "#fbbf24"; // amber-400
const RECORDED = "#38bdf8"; // sky-400
const THRESHOLD = "#fb7185"; // rose-400
const AXIS = "#94a3b8"; // slate-400
const GRID = "#334155"; // slate-700

/** Whether this browser draws on a canvas (jsdom does not). */
export function canDraw(): boolean {
  try {
    return document.createElement("canvas").getContext("2d") !== null;
  } catch {
    return false;
  }
}

interface Reference {
  value: number;
  colour: string;
  label: string;
}

function references(recorded: number | null, threshold: number | null): Reference[] {
  const lines: Reference[] = [];
  if (recorded !== null) lines.push({ value: recorded, colour: RECORDED, label: "recorded FID" });
  if (threshold !== null)
    lines.push({ value: threshold, colour: THRESHOLD, label: "FID threshold" });
  return lines;
}

/** A dashed horizontal line across the plot at each reference value, with its name. */
function drawReferences(u: uPlot, lines: Reference[], px: number) {
  const { ctx } = u;
  const { left, width } = u.bbox;
  ctx.save();
  ctx.lineWidth = 1.5 * px;
  ctx.setLineDash([6 * px, 4 * px]);
  ctx.font = `${11 * px}px system-ui, sans-serif`;
  ctx.textAlign = "right"; // the name at the right end, above its line
  ctx.textBaseline = "bottom";
  for (const line of lines) {
    const y = u.valToPos(line.value, "y", true);
    ctx.strokeStyle = line.colour;
    ctx.fillStyle = line.colour;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
    ctx.fillText(`${line.label} ${formatFid(line.value)}`, left + width - 4 * px, y - 3 * px);
  }
  ctx.restore();
}

/** The x range: the checks' times with a margin, so that no point sits on an edge; an hour
 * around a single check (uPlot's own choice for one point is a thousand days after it). */
export function timeRange(times: ArrayLike<number>, min: number, max: number): uPlot.Range.MinMax {
  if (times.length === 0) return [min, max];
  const first = times[0];
  const last = times[times.length - 1];
  if (first === last) return [first - 1800, last + 1800];
  const margin = (last - first) * 0.04;
  return [first - margin, last + margin];
}

/** uPlot's options: time on x, FID on y, its range widened to show the reference lines. */
export function chartOptions(
  UPlot: typeof uPlot,
  width: number,
  lines: Reference[],
): uPlot.Options {
  const axis = { stroke: AXIS, grid: { stroke: GRID, width: 1 }, ticks: { stroke: GRID } };
  return {
    width,
    height: HEIGHT,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: {
      x: {
        time: true,
        range: (u, min, max) => timeRange(u.data[0], min, max),
      },
      y: {
        range: (_u, min, max) => {
          const values = [min, max, ...lines.map((l) => l.value)].filter(Number.isFinite);
          return UPlot.rangeNum(Math.min(...values), Math.max(...values), 0.1, true);
        },
      },
    },
    series: [
      {},
      {
        label: "live FID",
        stroke: LIVE,
        width: 2,
        points: { show: true, size: 7, fill: LIVE, stroke: LIVE },
      },
    ],
    axes: [axis, { ...axis, label: "FID", labelSize: 18, labelGap: 4, size: 64 }],
    hooks: { draw: [(u) => drawReferences(u, lines, UPlot.pxRatio)] },
  };
}

/** The live FID of the quality checks over time, with the recorded FID and the threshold as
 * dashed lines; a table of the same numbers for screen readers (and where nothing draws). */
export function FidChart({ history, recorded, threshold, title }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const id = useId();
  // redraw only when the numbers change, not on every refresh of the model list
  const key = JSON.stringify([fidSeries(history), recorded, threshold]);
  useEffect(() => {
    const element = box.current;
    if (!element || !canDraw()) return;
    const [data, rec, thr] = JSON.parse(key) as [uPlot.AlignedData, number | null, number | null];
    let plot: uPlot | undefined;
    let observer: ResizeObserver | undefined;
    let gone = false;
    // uPlot is loaded with the first plot: the page's first paint does not wait for it
    void import("uplot").then(({ default: UPlot }) => {
      if (gone) return;
      const width = element.clientWidth || 600; // 0 while its tab is hidden
      plot = new UPlot(chartOptions(UPlot, width, references(rec, thr)), data, element);
      if (typeof ResizeObserver === "undefined") return;
      observer = new ResizeObserver(() => {
        if (element.clientWidth) plot?.setSize({ width: element.clientWidth, height: HEIGHT });
      });
      observer.observe(element);
    });
    return () => {
      gone = true;
      observer?.disconnect();
      plot?.destroy();
    };
  }, [key]);

  const lines = references(recorded, threshold);
  return (
    <figure aria-labelledby={`${id}-title`} className="flex flex-col gap-1">
      <figcaption id={`${id}-title`} className="text-xs text-slate-400">
        {title}
      </figcaption>
      <div ref={box} aria-hidden="true" data-testid="fid-chart" className="w-full" />
      <ul className="flex flex-wrap gap-x-4 gap-y-1 text-xs text-slate-300" aria-label="Key">
        <li className="flex items-center gap-1.5">
          <span aria-hidden="true" className="h-0.5 w-4" style={{ background: LIVE }} />
          live FID
        </li>
        {lines.map((line) => (
          <li key={line.label} className="flex items-center gap-1.5">
            <span
              aria-hidden="true"
              className="w-4 border-t-2 border-dashed"
              style={{ borderColor: line.colour }}
            />
            {line.label} {formatFid(line.value)}
          </li>
        ))}
      </ul>
      <table className="sr-only">
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">Checked at</th>
            <th scope="col">FID</th>
            <th scope="col">Images</th>
          </tr>
        </thead>
        <tbody>
          {history.map((check) => (
            <tr key={check.finished}>
              <td>{formatWhen(check.finished * 1000)}</td>
              <td>{formatFid(check.fid)}</td>
              <td>{check.n}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
