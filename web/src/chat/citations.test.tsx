import type { Citation } from "@parley/sdk";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { orderSources, splitMarkers } from "./citations";
import { Markdown } from "./Markdown";
import { MessageView } from "./MessageView";

const openFile = vi.fn();
vi.mock("../files/openFile", () => ({ openFile: (...args: unknown[]) => openFile(...args) }));

const CITATIONS: Citation[] = [
  { n: 1, file_id: "f1", filename: "report.pdf", page: 3, sheet: null, snippet: "Revenue grew 12% in Q3.", cited: true },
  { n: 2, file_id: "f2", filename: "budget.xlsx", page: null, sheet: "Q3", snippet: "Costs: 4.1M", cited: false },
  { n: 3, file_id: "f3", filename: "notes.txt", page: null, sheet: null, snippet: "A note", cited: true },
];

describe("splitMarkers", () => {
  it("splits known markers out of text, adjacent ones too, and leaves unknown numbers as text", () => {
    const parts = splitMarkers("Grew [1][3], see [9].", new Set([1, 3]));
    expect(parts?.map((part) => (part.type === "text" ? part.value : `<${(part.data?.["hProperties"] as { dataCitation: number }).dataCitation}>`))).toEqual([
      "Grew ",
      "<1>",
      "<3>",
      ", see [9].",
    ]);
    expect(splitMarkers("nothing here [x]", new Set([1]))).toBeNull();
  });

  it("orders cited sources first", () => {
    expect(orderSources(CITATIONS).map((c) => c.n)).toEqual([1, 3, 2]);
  });
});

describe("citation markers in markdown", () => {
  it("renders known markers as buttons, but not inside code blocks, inline code or unknown numbers", async () => {
    const onCite = vi.fn();
    const text = "Revenue grew [1][3] and **costs** [7] too.\n\n```python\nvalues[1] = 2\n```\n\nUse `items[1]` here.";
    const { container } = render(<Markdown text={text} citations={CITATIONS} onCite={onCite} />);
    const chips = screen.getAllByRole("button", { name: /^Source \d/ });
    expect(chips.map((chip) => chip.textContent)).toEqual(["1", "3"]);
    expect(chips[0]).toHaveAccessibleName("Source 1: report.pdf");
    expect(container.querySelector("pre code")?.textContent).toContain("values[1] = 2");
    expect(container.querySelector("p code")?.textContent).toBe("items[1]");
    expect(container.textContent).toContain("[7]");
    expect(container.querySelector("strong")).toHaveTextContent("costs");
    await userEvent.click(chips[1]!);
    expect(onCite).toHaveBeenCalledWith(3, chips[1]);
  });

  it("leaves markers as text while there are no citations (a plain answer, or one still streaming)", () => {
    const { container } = render(<Markdown text="As said in [1]." />);
    expect(screen.queryByRole("button")).toBeNull();
    expect(container.textContent).toBe("As said in [1].");
  });
});

describe("an answer with sources", () => {
  it("lists sources (cited first), opens one with its snippet, and downloads the file", async () => {
    openFile.mockResolvedValue(undefined);
    const user = userEvent.setup();
    render(
      <MessageView
        message={{ id: "a1", role: "assistant", content: "It grew [1].", status: "done", citations: CITATIONS, model: "echo" }}
      />,
    );
    const sources = await screen.findByRole("region", { name: "Sources" });
    const items = within(sources).getAllByRole("button");
    expect(items.map((item) => item.textContent)).toEqual([
      "[1]report.pdfpage 3",
      "[3]notes.txt",
      "[2]budget.xlsxsheet Q3· Also consulted",
    ]);
    await user.click(await screen.findByRole("button", { name: "Source 1: report.pdf" }));
    const panel = screen.getByRole("dialog", { name: /report\.pdf/ });
    expect(panel).toHaveTextContent("Revenue grew 12% in Q3.");
    expect(panel).toHaveFocus();
    await user.click(within(panel).getByRole("button", { name: "Open file" }));
    expect(openFile).toHaveBeenCalledWith("f1", "report.pdf");
    await user.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(screen.getByRole("button", { name: "Source 1: report.pdf" })).toHaveFocus();
  });

  it("shows what the server is doing before the answer starts", () => {
    const { rerender } = render(
      <MessageView message={{ id: "a1", role: "assistant", content: "", status: "streaming", progress: { stage: "reading_files", files: ["report.pdf"] } }} />,
    );
    expect(screen.getByRole("status")).toHaveTextContent("Reading report.pdf…");
    rerender(<MessageView message={{ id: "a1", role: "assistant", content: "", status: "streaming", progress: { stage: "searching" } }} />);
    expect(screen.getByRole("status")).toHaveTextContent("Searching your documents…");
    rerender(<MessageView message={{ id: "a1", role: "assistant", content: "", status: "streaming", progress: { stage: "summarising", done: 3, total: 8 } }} />);
    expect(screen.getByRole("status")).toHaveTextContent("Summarising 3/8…");
  });
});
