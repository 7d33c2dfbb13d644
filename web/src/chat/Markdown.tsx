import "katex/dist/katex.min.css";
import type { Citation } from "@parley/sdk";
import { memo, useContext, useMemo } from "react";
import { useTranslation } from "react-i18next";
import ReactMarkdown, { type Components } from "react-markdown";
import rehypeHighlight from "rehype-highlight";
import rehypeKatex from "rehype-katex";
import remarkGfm from "remark-gfm";
import remarkMath from "remark-math";
import { CitationContext, type CitationHandlers } from "./CitationContext";
import { remarkCitations } from "./citations";
import { CodeBlock } from "./CodeBlock";

/** A `[n]` marker: a small button that opens its source. */
function CitationRef({ n }: { n: number }) {
  const { t } = useTranslation();
  const context = useContext(CitationContext);
  const citation = context?.byNumber.get(n);
  if (!context || !citation) return <>[{n}]</>;
  return (
    <sup className="citation-ref">
      <button
        type="button"
        className="citation-chip"
        aria-label={t("chat.citation", { n, filename: citation.filename })}
        title={citation.filename}
        data-citation={n}
        onClick={(event) => context.open(n, event.currentTarget)}
      >
        {n}
      </button>
    </sup>
  );
}

const components: Components = {
  pre: CodeBlock,
  // links from an answer open elsewhere and pass no referrer
  a: ({ node: _node, ...props }) => <a {...props} target="_blank" rel="noopener noreferrer" />,
  table: ({ node: _node, ...props }) => (
    <div className="table-wrap">
      <table {...props} />
    </div>
  ),
  sup: ({ node, ...props }) => {
    const n = Number(node?.properties?.["dataCitation"]);
    if (Number.isInteger(n) && n > 0 && String(props.className ?? "").includes("citation-ref")) return <CitationRef n={n} />;
    return <sup {...props} />;
  },
};

const remarkBase = [remarkGfm, [remarkMath, { singleDollarTextMath: true }]] as const;
const rehypePlugins = [
  [rehypeHighlight, { detect: false }],
  [rehypeKatex, { throwOnError: false, strict: "ignore" }],
] as NonNullable<Parameters<typeof ReactMarkdown>[0]["rehypePlugins"]>;

interface Props {
  text: string;
  /** The answer's sources: `[n]` markers naming one of them become buttons that call `onCite`. */
  citations?: readonly Citation[];
  onCite?(n: number, trigger: HTMLElement): void;
}

/** An answer's markdown: GitHub tables and lists, highlighted code with a copy button, LaTeX with KaTeX, and
 * citation markers. Raw HTML in the text is not rendered (react-markdown escapes it), so an answer cannot inject
 * markup. */
export const Markdown = memo(function Markdown({ text, citations, onCite }: Props) {
  const handlers = useMemo<CitationHandlers | null>(() => {
    if (!citations?.length || !onCite) return null;
    return { byNumber: new Map(citations.map((citation) => [citation.n, citation])), open: onCite };
  }, [citations, onCite]);
  const remarkPlugins = useMemo(() => {
    const numbers = new Set(handlers ? handlers.byNumber.keys() : []);
    return [...remarkBase, [remarkCitations, { numbers }]] as NonNullable<Parameters<typeof ReactMarkdown>[0]["remarkPlugins"]>;
  }, [handlers]);
  return (
    <div className="markdown">
      <CitationContext.Provider value={handlers}>
        <ReactMarkdown remarkPlugins={remarkPlugins} rehypePlugins={rehypePlugins} components={components}>
          {text}
        </ReactMarkdown>
      </CitationContext.Provider>
    </div>
  );
});
