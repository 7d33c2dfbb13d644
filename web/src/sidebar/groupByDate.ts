/** Groups conversations by their last activity: Today, Yesterday, Previous 7 days, Previous 30 days, then by
 * month (newest first), in the user's local time. */
import type { Conversation } from "@parley/sdk";

export type DateGroupKey = "today" | "yesterday" | "previous7" | "previous30" | `month:${number}-${number}`;

export interface DateGroup {
  key: DateGroupKey;
  /** For month groups: the first day of that month. */
  month?: Date;
  items: Conversation[];
}

function startOfDay(date: Date): number {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

const DAY = 86_400_000;

export function dateGroupOf(when: Date, now: Date): DateGroupKey {
  const today = startOfDay(now);
  const day = startOfDay(when);
  // Calendar days, not 24-hour spans (a daylight-saving day has 23 or 25 hours).
  const daysAgo = Math.round((today - day) / DAY);
  if (daysAgo <= 0) return "today";
  if (daysAgo === 1) return "yesterday";
  if (daysAgo < 7) return "previous7";
  if (daysAgo < 30) return "previous30";
  return `month:${when.getFullYear()}-${when.getMonth() + 1}`;
}

export function groupByDate(conversations: Conversation[], now: Date = new Date()): DateGroup[] {
  const groups = new Map<DateGroupKey, DateGroup>();
  const sorted = [...conversations].sort((a, b) => activity(b) - activity(a));
  for (const conversation of sorted) {
    const when = new Date(activity(conversation));
    const key = dateGroupOf(when, now);
    let group = groups.get(key);
    if (!group) {
      group = { key, items: [] };
      if (key.startsWith("month:")) group.month = new Date(when.getFullYear(), when.getMonth(), 1);
      groups.set(key, group);
    }
    group.items.push(conversation);
  }
  return [...groups.values()];
}

function activity(conversation: Conversation): number {
  return new Date(conversation.last_activity_at || conversation.updated_at || conversation.created_at).getTime();
}
