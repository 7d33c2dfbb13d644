import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ParleyApiError } from "@parley/sdk";
import { describe, expect, it, vi } from "vitest";
import { ReportDialog } from "./ReportAnswer";

const reportAnswer = vi.fn();
vi.mock("../api/client", () => ({ api: { chat: { reportAnswer: (...args: unknown[]) => reportAnswer(...args) } } }));

describe("the report dialog", () => {
  it("says so when the answer was already reported, and keeps the dialog open", async () => {
    // thrown when called (a rejected promise made up front would count as unhandled until the click)
    reportAnswer.mockImplementation(async () => {
      throw new ParleyApiError({ type: "about:blank", title: "Conflict", status: 409, detail: "already reported" });
    });
    const onSent = vi.fn();
    render(<ReportDialog messageId="a1" onSent={onSent} onClose={() => undefined} />);
    await userEvent.click(screen.getByRole("radio", { name: "Wrong or made up" }));
    await userEvent.click(screen.getByRole("button", { name: "Report" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("You already reported this answer");
    expect(screen.getByRole("dialog")).toBeInTheDocument();
    expect(onSent).not.toHaveBeenCalled();
    expect(reportAnswer.mock.calls).toEqual([["a1", { reason: "wrong" }]]);
  });

});
