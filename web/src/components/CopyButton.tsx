import { useEffect, useState } from "react";
import { copyText } from "./clipboard";
import { Icon } from "./Icon";

/** Copies `text`; says so for two seconds (visibly and to screen readers). */
export function CopyButton({ text, label, doneLabel, className = "" }: { text: () => string; label: string; doneLabel: string; className?: string }) {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return undefined;
    const timer = setTimeout(() => setCopied(false), 2000);
    return () => clearTimeout(timer);
  }, [copied]);
  return (
    <button
      type="button"
      className={`icon-button ${className}`}
      aria-label={copied ? doneLabel : label}
      title={copied ? doneLabel : label}
      onClick={() => {
        void copyText(text()).then(() => setCopied(true));
      }}
    >
      <Icon name={copied ? "check" : "copy"} size={16} />
      <span className="copy-label" aria-live="polite">
        {copied ? doneLabel : ""}
      </span>
    </button>
  );
}
