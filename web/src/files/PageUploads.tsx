import { useRef } from "react";
import { Icon } from "../components/Icon";
import { AttachmentChip } from "./AttachmentChip";
import type { Upload } from "./useUploads";

/** A button that opens the file chooser (several files at once) and hands the chosen files on. */
export function UploadButton({ label, primary = false, onFiles }: { label: string; primary?: boolean; onFiles(files: File[]): void }) {
  const picker = useRef<HTMLInputElement>(null);
  return (
    <>
      <input
        ref={picker}
        type="file"
        multiple
        hidden
        tabIndex={-1}
        aria-hidden="true"
        onChange={(event) => {
          const chosen = Array.from(event.target.files ?? []);
          event.target.value = "";
          if (chosen.length) onFiles(chosen);
        }}
      />
      <button type="button" className={primary ? "button primary" : "button"} onClick={() => picker.current?.click()}>
        <Icon name="upload" size={16} /> {label}
      </button>
    </>
  );
}

/** The uploads of a page in progress (announced as they change); nothing when there are none. */
export function UploadList({ label, uploads, onRemove }: { label: string; uploads: Upload[]; onRemove(key: string): void }) {
  if (uploads.length === 0) return null;
  return (
    <ul className="attachment-list page-uploads" aria-label={label} aria-live="polite">
      {uploads.map((upload) => (
        <AttachmentChip key={upload.key} upload={upload} onRemove={onRemove} />
      ))}
    </ul>
  );
}
