import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it } from "vitest";
import { Tabs } from "../src/components/Tabs";

function Harness() {
  const [active, setActive] = useState("a");
  const tabs = [
    { id: "a", label: "First", panel: <p>one</p> },
    { id: "b", label: "Second", panel: <p>two</p> },
  ];
  return <Tabs tabs={tabs} active={active} onChange={setActive} label="Views" />;
}

describe("Tabs", () => {
  it("switches with the arrow keys and keeps hidden panels mounted", async () => {
    render(<Harness />);
    const first = screen.getByRole("tab", { name: "First" });
    expect(first).toHaveAttribute("aria-selected", "true");
    first.focus();
    await userEvent.keyboard("{ArrowRight}");
    const second = screen.getByRole("tab", { name: "Second" });
    expect(second).toHaveFocus();
    expect(second).toHaveAttribute("aria-selected", "true");
    expect(screen.getByRole("tabpanel", { name: "Second" })).toHaveTextContent("two");
    expect(screen.getByText("one", { selector: "p" })).not.toBeVisible();
    await userEvent.keyboard("{ArrowRight}");
    expect(first).toHaveFocus();
  });
});
