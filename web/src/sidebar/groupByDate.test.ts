import type { Conversation } from "@parley/sdk";
import { describe, expect, it } from "vitest";
import { groupByDate } from "./groupByDate";

const NOW = new Date(2026, 2, 15, 10, 0); // 15 March 2026, 10:00 local time

function conversation(id: string, when: Date): Conversation {
  const iso = when.toISOString();
  return { id, title: id, model: null, is_archived: false, created_at: iso, updated_at: iso, last_activity_at: iso };
}

describe("groupByDate", () => {
  it("groups by Today, Yesterday, Previous 7 days, Previous 30 days, then month, newest first", () => {
    const groups = groupByDate(
      [
        conversation("old", new Date(2025, 11, 24, 12)),
        conversation("today-early", new Date(2026, 2, 15, 0, 5)),
        conversation("yesterday-late", new Date(2026, 2, 14, 23, 55)),
        conversation("three-days", new Date(2026, 2, 12, 9)),
        conversation("twenty-days", new Date(2026, 1, 23, 9)),
        conversation("today-late", new Date(2026, 2, 15, 9, 59)),
        conversation("january", new Date(2026, 0, 3, 9)),
      ],
      NOW,
    );
    expect(groups.map((group) => [group.key, group.items.map((item) => item.id)])).toEqual([
      ["today", ["today-late", "today-early"]],
      ["yesterday", ["yesterday-late"]],
      ["previous7", ["three-days"]],
      ["previous30", ["twenty-days"]],
      ["month:2026-1", ["january"]],
      ["month:2025-12", ["old"]],
    ]);
    expect(groups[4]?.month).toEqual(new Date(2026, 0, 1));
  });

  it("gives nothing for no conversations", () => {
    expect(groupByDate([], NOW)).toEqual([]);
  });
});
