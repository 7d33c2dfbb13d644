/**
 * Citation markers: an answer grounded in documents refers to its sources as `[1]`, `[2][3]`. A remark plugin
 * turns the markers that name a known source into `<sup class="citation-ref">` elements (rendered as buttons);
 * markers inside code (blocks or inline), math and link text are left alone, since those are not text nodes of
 * the markdown tree.
 */
import type { Citation } from "@parley/sdk";

const MARKER = /\[(\d{1,3})\]/g;

/** The markdown tree, as far as this plugin needs it. */
interface MdNode {
  type: string;
  value?: string;
  children?: MdNode[];
  data?: Record<string, unknown>;
}

// Text in these keeps its brackets: a link's text, or an image's description, is not where a marker goes.
const SKIP = new Set(["link", "linkReference", "image", "imageReference", "definition"]);

export function citationNode(n: number): MdNode {
  return {
    type: "citation",
    data: {
      hName: "sup",
      hProperties: { className: ["citation-ref"], dataCitation: n },
      hChildren: [{ type: "text", value: String(n) }],
    },
  };
}

/** Splits a text's markers into citation nodes; null when it has none to replace. */
export function splitMarkers(value: string, known: ReadonlySet<number>): MdNode[] | null {
  const parts: MdNode[] = [];
  let last = 0;
  for (const match of value.matchAll(MARKER)) {
    const n = Number(match[1]);
    if (!known.has(n)) continue;
    const start = match.index ?? 0;
    if (start > last) parts.push({ type: "text", value: value.slice(last, start) });
    parts.push(citationNode(n));
    last = start + match[0].length;
  }
  if (!parts.length) return null;
  if (last < value.length) parts.push({ type: "text", value: value.slice(last) });
  return parts;
}

function walk(node: MdNode, known: ReadonlySet<number>): void {
  if (!node.children || SKIP.has(node.type)) return;
  let changed = false;
  const children: MdNode[] = [];
  for (const child of node.children) {
    if (child.type === "text" && child.value) {
      const parts = splitMarkers(child.value, known);
      if (parts) {
        children.push(...parts);
        changed = true;
        continue;
      }
    } else {
      walk(child, known);
    }
    children.push(child);
  }
  if (changed) node.children = children;
}

/** The remark plugin: `[n]` for each n in `numbers` becomes a citation. */
export function remarkCitations(options: { numbers: ReadonlySet<number> }) {
  return (tree: unknown): void => {
    if (options.numbers.size) walk(tree as MdNode, options.numbers);
  };
}

/** Cited sources first (in the order of their numbers), then the others the answer was given. */
export function orderSources(citations: readonly Citation[]): Citation[] {
  return [...citations].sort((a, b) => Number(!!b.cited) - Number(!!a.cited) || a.n - b.n);
}

/** Where in its file a source is: "page 3", "sheet Q1", or nothing. */
export function locationOf(citation: Citation, t: (key: string, options?: Record<string, unknown>) => string): string {
  if (citation.page != null) return t("chat.page", { page: citation.page });
  if (citation.sheet) return t("chat.sheet", { sheet: citation.sheet });
  return "";
}
