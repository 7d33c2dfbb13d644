import { api } from "../api/client";

/**
 * Downloads a file's bytes with the access token and hands them to the browser as a download. A bare link
 * cannot work: the token lives in memory and is sent as a bearer header, never as a cookie or in a URL.
 */
export async function openFile(id: string, fallbackName: string): Promise<void> {
  const content = await api.files.content(id);
  const url = URL.createObjectURL(content.blob);
  try {
    const link = document.createElement("a");
    link.href = url;
    link.download = content.filename || fallbackName;
    link.rel = "noopener";
    document.body.appendChild(link);
    link.click();
    link.remove();
  } finally {
    // let the download start before the URL goes
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
}
