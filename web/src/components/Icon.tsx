/** A few inline icons (no icon font to download). Decorative: the button around them carries the label. */
const PATHS = {
  plus: "M12 5v14M5 12h14",
  menu: "M4 6h16M4 12h16M4 18h16",
  close: "M6 6l12 12M18 6L6 18",
  send: "M5 12h14M13 6l6 6-6 6",
  stop: "M7 7h10v10H7z",
  edit: "M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4",
  archive: "M4 7h16v3H4zM6 10v9h12v-9M10 14h4",
  unarchive: "M4 7h16v3H4zM6 10v9h12v-9M12 18v-6M9.5 14.5L12 12l2.5 2.5",
  trash: "M5 7h14M10 7V5h4v2M7 7l1 13h8l1-13",
  copy: "M9 9h10v10H9zM5 15V5h10",
  check: "M5 12l5 5 9-10",
  refresh: "M20 11a8 8 0 1 0-2.3 5.7M20 5v6h-6",
  search: "M11 4a7 7 0 1 1 0 14 7 7 0 0 1 0-14zM16 16l4 4",
  settings: "M12 9a3 3 0 1 1 0 6 3 3 0 0 1 0-6zM12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9L7 7M17 17l2.1 2.1M4.9 19.1L7 17M17 7l2.1-2.1",
  chart: "M4 20V10M10 20V4M16 20v-7M22 20H2",
  shield: "M12 3l8 3v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6z",
  logout: "M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10",
  down: "M12 5v14M6 13l6 6 6-6",
  chat: "M4 5h16v11H9l-5 4z",
  file: "M6 3h8l4 4v14H6zM14 3v4h4",
  paperclip: "M20 11.5l-8 8a5 5 0 0 1-7-7l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7L9.7 17.2a1.7 1.7 0 0 1-2.4-2.4L15 7",
  book: "M5 4h11a3 3 0 0 1 3 3v13H8a3 3 0 0 1-3-3zM5 17a3 3 0 0 1 3-3h11M9 8h6",
  download: "M12 4v11M7 10l5 5 5-5M5 20h14",
  upload: "M12 20V9M7 14l5-5 5 5M5 4h14",
  thumbUp: "M7 10v10H4V10zM7 10l4-7a2 2 0 0 1 3 2l-1 4h6a2 2 0 0 1 2 2.3l-1.3 7a2 2 0 0 1-2 1.7H7",
  thumbDown: "M7 14V4H4v10zM7 14l4 7a2 2 0 0 0 3-2l-1-4h6a2 2 0 0 0 2-2.3l-1.3-7A2 2 0 0 0 17.7 4H7",
  flag: "M5 21V4M5 4h12l-2.5 4.5L17 13H5",
  share: "M18 8a3 3 0 1 0 0-.01zM6 15a3 3 0 1 0 0-.01zM18 22a3 3 0 1 0 0-.01zM8.6 13.5l6.8-4M8.6 16.5l6.8 4",
} as const;

export type IconName = keyof typeof PATHS;

export function Icon({ name, size = 18 }: { name: IconName; size?: number }) {
  return (
    <svg
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={2}
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      <path d={PATHS[name]} />
    </svg>
  );
}
