import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { api } from "../api/client";

/** An image sent with a question, fetched with the access token (a bare `src` could not send it) and shown from
 * an object URL, released when it leaves the page. */
export function ImageThumbnail({ id, filename }: { id: string; filename?: string }) {
  const { t } = useTranslation();
  const [url, setUrl] = useState<string | null>(null);

  useEffect(() => {
    let objectUrl: string | null = null;
    let cancelled = false;
    api.files
      .content(id)
      .then((content) => {
        if (cancelled) return;
        objectUrl = URL.createObjectURL(content.blob);
        setUrl(objectUrl);
      })
      .catch(() => undefined); // deleted since: the message shows without it
    return () => {
      cancelled = true;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [id]);

  const label = filename || t("chat.image");
  return url ? (
    <img className="message-image" src={url} alt={label} title={label} />
  ) : (
    <span className="message-image placeholder" role="img" aria-label={label} />
  );
}
