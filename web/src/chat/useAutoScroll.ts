import { type RefObject, useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";

const NEAR_BOTTOM_PX = 48;

/**
 * Keeps a scroll container pinned to the bottom while content grows, until the user scrolls up; scrolling back
 * down (or `jumpToLatest`) pins it again.
 */
export function useAutoScroll(container: RefObject<HTMLElement | null>, content: unknown) {
  const pinned = useRef(true);
  const [atBottom, setAtBottom] = useState(true);

  useEffect(() => {
    const element = container.current;
    if (!element) return undefined;
    const onScroll = (): void => {
      const distance = element.scrollHeight - element.scrollTop - element.clientHeight;
      pinned.current = distance <= NEAR_BOTTOM_PX;
      setAtBottom(pinned.current);
    };
    element.addEventListener("scroll", onScroll, { passive: true });
    return () => element.removeEventListener("scroll", onScroll);
  }, [container]);

  // Anything that changes the content's height (a notice, the action row, an image, a late KaTeX font) keeps
  // the view pinned too, not only new text.
  useEffect(() => {
    const element = container.current;
    const content = element?.firstElementChild;
    if (!element || !content || typeof ResizeObserver === "undefined") return undefined;
    const observer = new ResizeObserver(() => {
      if (pinned.current) element.scrollTop = element.scrollHeight;
    });
    observer.observe(content);
    return () => observer.disconnect();
  }, [container]);

  useLayoutEffect(() => {
    const element = container.current;
    if (element && pinned.current) element.scrollTop = element.scrollHeight;
  }, [container, content]);

  const jumpToLatest = useCallback(() => {
    const element = container.current;
    pinned.current = true;
    setAtBottom(true);
    if (element) element.scrollTo({ top: element.scrollHeight, behavior: "smooth" });
  }, [container]);

  /** Pin again (e.g. when the user sends a message). */
  const pin = useCallback(() => {
    pinned.current = true;
    setAtBottom(true);
  }, []);

  return { atBottom, jumpToLatest, pin };
}
