import "katex/dist/katex.min.css";
import type { Citation } from "@parley/sdk";
import { type ComponentProps, memo, useContext, useMemo } from "react";
import { useTranslation } from "react-i18next";
import ReactMarkdown, { type Components } from "react-markdown";
import rehypeHighlight from "rehype-highlight";
import rehypeKatex from "rehype-katex";
import remarkGfm from "remark-gfm";
import remarkMath from "remark-math";
import { useAuthIfAny } from "../auth/AuthProvider";
import { CitationContext, type CitationHandlers } from "./CitationContext";
import { remarkCitations } from "./citations";
import { CodeBlock } from "./CodeBlock";
import { imageSource, runsScript } from "./linkSafety";

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

type ImageProps = ComponentProps<"img"> & { node?: unknown };

/** An answer's image, only from this app or an allowed host; otherwise a note naming the host, and no request. */
function AnswerImage({ node: _node, src, ...props }: ImageProps) {
  const { t } = useTranslation();
  const hosts = useAuthIfAny()?.user?.image_hosts ?? [];
  const source = imageSource(typeof src === "string" ? src : null, hosts);
  if (source.allowed) return <img {...props} src={src} />;
  const note = source.host ? t("chat.imageNotLoaded", { host: source.host }) : t("chat.imageNotLoadedNoHost");
  return <span className="image-not-loaded">{note}</span>;
}

const components: Components = {
  pre: CodeBlock,
  // links from an answer open elsewhere and pass no referrer; one that would run script is only its text
  a: ({ node: _node, href, children, ...props }) =>
    runsScript(href) ? (
      <span>{children}</span>
    ) : (
      <a {...props} href={href} target="_blank" rel="noopener noreferrer">
        {children}
      </a>
    ),
  img: AnswerImage,
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
 * markup; images load only from allowed hosts and scripted links are text (linkSafety). */
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
