import type { Citation } from "@parley/sdk";
import { createContext } from "react";

export interface CitationHandlers {
  byNumber: ReadonlyMap<number, Citation>;
  open(n: number, trigger: HTMLElement): void;
}

export const CitationContext = createContext<CitationHandlers | null>(null);
