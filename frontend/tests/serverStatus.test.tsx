import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { StatusBadge } from "../src/components/StatusBadge";
import { checkServer } from "../src/hooks/useServerStatus";
import { stubFetch } from "./fakes";

const health = { body: { status: "ok", version: "0.1.0" } };

describe("server status", () => {
  it("is online when ready", async () => {
    stubFetch({
      "GET api/health": health,
      "GET api/ready": { body: { ready: true, workers: true, valid_models: 2 } },
    });
    const status = await checkServer();
    expect(status).toEqual({ kind: "online", version: "0.1.0", validModels: 2 });
    render(<StatusBadge status={status} />);
    expect(screen.getByRole("status")).toHaveTextContent("Server: Online");
  });

  it("is not ready without a valid model (503 from /api/ready)", async () => {
    stubFetch({
      "GET api/health": health,
      "GET api/ready": { status: 503, body: { ready: false, workers: true, valid_models: 0 } },
    });
    expect(await checkServer()).toMatchObject({ kind: "degraded" });
  });

  it("is offline when the server cannot be reached", async () => {
    stubFetch({});
    const status = await checkServer();
    expect(status).toMatchObject({ kind: "offline" });
    render(<StatusBadge status={status} />);
    expect(screen.getByRole("status")).toHaveTextContent(/Offline.*Cannot reach/);
  });
});
