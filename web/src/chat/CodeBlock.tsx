import { type ComponentPropsWithoutRef, useRef } from "react";
import { useTranslation } from "react-i18next";
import { CopyButton } from "../components/CopyButton";

/** A fenced code block (highlighted by rehype-highlight) with its language and a copy button. */
export function CodeBlock({ children, node: _node, ...props }: ComponentPropsWithoutRef<"pre"> & { node?: unknown }) {
  const { t } = useTranslation();
  const pre = useRef<HTMLPreElement>(null);
  const language = languageOf(children);
  return (
    <div className="code-block">
      <div className="code-header">
        <span className="code-language">{language ?? ""}</span>
        <CopyButton text={() => pre.current?.textContent ?? ""} label={t("chat.copyCode")} doneLabel={t("chat.codeCopied")} />
      </div>
      <pre ref={pre} {...props}>
        {children}
      </pre>
    </div>
  );
}

function languageOf(children: unknown): string | undefined {
  const child = Array.isArray(children) ? children[0] : children;
  const className = (child as { props?: { className?: string } } | undefined)?.props?.className ?? "";
  return /language-([\w+-]+)/.exec(className)?.[1];
}
