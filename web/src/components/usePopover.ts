import { type KeyboardEvent, useEffect, useId, useRef, useState } from "react";

/** A button that opens a panel: a click outside closes it, Escape closes it and gives the focus back to the
 * button. Spread `onKeyDown` on the element holding both, whose ref is `root`. */
export function usePopover() {
  const [open, setOpen] = useState(false);
  const panelId = useId();
  const root = useRef<HTMLDivElement>(null);
  const button = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    if (!open) return undefined;
    const onPointer = (event: MouseEvent): void => {
      if (root.current && !root.current.contains(event.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", onPointer);
    return () => document.removeEventListener("mousedown", onPointer);
  }, [open]);

  function onKeyDown(event: KeyboardEvent<HTMLElement>): void {
    if (event.key === "Escape" && open) {
      event.preventDefault();
      event.stopPropagation();
      setOpen(false);
      button.current?.focus();
    }
  }

  return { open, setOpen, panelId, root, button, onKeyDown };
}
