import "katex/dist/katex.min.css";
import { memo } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import rehypeHighlight from "rehype-highlight";
import rehypeKatex from "rehype-katex";
import remarkGfm from "remark-gfm";
import remarkMath from "remark-math";
import { CodeBlock } from "./CodeBlock";

const components: Components = {
  pre: CodeBlock,
  // links from an answer open elsewhere and pass no referrer
  a: ({ node: _node, ...props }) => <a {...props} target="_blank" rel="noopener noreferrer" />,
  table: ({ node: _node, ...props }) => (
    <div className="table-wrap">
      <table {...props} />
    </div>
  ),
};

/** An answer's markdown: GitHub tables and lists, highlighted code with a copy button, LaTeX with KaTeX.
 * Raw HTML in the text is not rendered (react-markdown escapes it), so an answer cannot inject markup. */
export const Markdown = memo(function Markdown({ text }: { text: string }) {
  return (
    <div className="markdown">
      <ReactMarkdown
        remarkPlugins={[remarkGfm, [remarkMath, { singleDollarTextMath: true }]]}
        rehypePlugins={[[rehypeHighlight, { detect: false }], [rehypeKatex, { throwOnError: false, strict: "ignore" }]]}
        components={components}
      >
        {text}
      </ReactMarkdown>
    </div>
  );
});
