export function Logo({ size = 28 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 64 64" aria-hidden="true" focusable="false" className="logo">
      <rect width="64" height="64" rx="14" fill="var(--accent)" />
      <path d="M16 20h32a4 4 0 0 1 4 4v14a4 4 0 0 1-4 4H30l-10 8v-8h-4a4 4 0 0 1-4-4V24a4 4 0 0 1 4-4z" fill="var(--on-accent)" />
    </svg>
  );
}
