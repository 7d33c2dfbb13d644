import { type FileRecord, type KnowledgeBase, type KnowledgeBaseFile, ParleyApiError } from "@parley/sdk";
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api } from "../api/client";
import { describeError } from "../api/errors";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Icon } from "../components/Icon";
import { Notice } from "../components/Notice";
import { FileTable } from "../files/FilesPage";
import { openFile } from "../files/openFile";
import { UploadButton, UploadList } from "../files/PageUploads";
import { isSettled } from "../files/pollFile";
import { useUploads } from "../files/useUploads";
import { PageHeader } from "../layout/PageHeader";
import { AccessBadge } from "./AccessBadge";
import { SharingSection } from "./SharingSection";

/** One knowledge base: its files (add, upload, remove), its name and description, and its sharing. */
export default function KnowledgeBasePage() {
  const { t } = useTranslation();
  const { id = "" } = useParams<{ id: string }>();
  const navigate = useNavigate();
  const [base, setBase] = useState<KnowledgeBase | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [files, setFiles] = useState<KnowledgeBaseFile[] | null>(null);
  const [myFiles, setMyFiles] = useState<FileRecord[]>([]);
  const [choice, setChoice] = useState("");
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [removing, setRemoving] = useState<KnowledgeBaseFile | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [downloading, setDownloading] = useState<string | null>(null);

  const canWrite = base?.access === "owner" || base?.access === "write";
  const isOwner = base?.access === "owner";

  const loadFiles = useCallback(async () => {
    try {
      const all: KnowledgeBaseFile[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 20; page++) {
        const answer = await api.knowledgeBases.files(id, { limit: 100, cursor });
        all.push(...answer.items);
        if (!answer.next_cursor) break;
        cursor = answer.next_cursor;
      }
      setFiles(all);
    } catch (caught) {
      setError(describeError(caught, t));
      setFiles((current) => current ?? []);
    }
  }, [id, t]);

  useEffect(() => {
    let cancelled = false;
    setBase(null);
    setLoadError(null);
    setFiles(null);
    api.knowledgeBases.get(id).then(
      (found) => {
        if (cancelled) return;
        setBase(found);
        setName(found.name);
        setDescription(found.description ?? "");
      },
      (caught: unknown) => !cancelled && setLoadError(caught),
    );
    void loadFiles();
    return () => {
      cancelled = true;
    };
  }, [id, loadFiles]);

  // My own ready files, to add from (loaded once the knowledge base is known to be writable).
  useEffect(() => {
    if (!canWrite) return;
    api.files.list({ limit: 100 }).then(
      (page) => setMyFiles(page.items),
      () => setMyFiles([]),
    );
  }, [canWrite]);

  const uploads = useUploads({ knowledgeBaseId: id }, () => void loadFiles());
  const { remove: forgetUpload } = uploads;
  useEffect(() => {
    for (const upload of uploads.uploads) if (upload.file && isSettled(upload.file) && upload.state === "ready") forgetUpload(upload.key);
  }, [uploads.uploads, forgetUpload]);

  async function addFile() {
    if (!choice) return;
    setError(null);
    try {
      await api.knowledgeBases.addFile(id, choice);
      setChoice("");
      await loadFiles();
      setBase((current) => (current ? { ...current, file_count: current.file_count + 1 } : current));
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  async function removeFile(file: KnowledgeBaseFile) {
    setRemoving(null);
    setError(null);
    try {
      await api.knowledgeBases.removeFile(id, file.id);
      setFiles((current) => (current ?? []).filter((item) => item.id !== file.id));
      setBase((current) => (current ? { ...current, file_count: Math.max(0, current.file_count - 1) } : current));
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  async function save(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      const updated = await api.knowledgeBases.update(id, { name: name.trim(), description: description.trim() });
      setBase((current) => ({ ...current, ...updated, access: updated.access ?? current?.access ?? "owner" }));
      setEditing(false);
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  async function remove() {
    setConfirmDelete(false);
    try {
      await api.knowledgeBases.delete(id);
      navigate("/knowledge-bases");
    } catch (caught) {
      setError(describeError(caught, t));
    }
  }

  async function download(file: { id: string; filename: string }) {
    setDownloading(file.id);
    try {
      await openFile(file.id, file.filename);
    } catch (caught) {
      setError(describeError(caught, t));
    } finally {
      setDownloading(null);
    }
  }

  const back = (
    <Link to="/knowledge-bases" className="back-link">
      ← {t("knowledge.back")}
    </Link>
  );
  if (loadError) {
    const notFound = loadError instanceof ParleyApiError && loadError.status === 404;
    return (
      <div className="page-content">
        {back}
        <Notice kind="error">{notFound ? t("knowledge.notFound") : describeError(loadError, t)}</Notice>
      </div>
    );
  }
  if (!base) {
    return (
      <div className="page-content">
        {back}
        <p className="muted" role="status">
          {t("app.loading")}
        </p>
      </div>
    );
  }

  const inBase = new Set((files ?? []).map((file) => file.id));
  const addable = myFiles.filter((file) => !inBase.has(file.id) && file.status !== "failed");

  return (
    <div className="page-content">
      {back}
      <PageHeader title={base.name}>
        <AccessBadge access={base.access} />
        {isOwner && !editing && (
          <button type="button" className="button small" onClick={() => setEditing(true)}>
            <Icon name="edit" size={16} /> {t("knowledge.edit")}
          </button>
        )}
        {isOwner && (
          <button type="button" className="button small danger" onClick={() => setConfirmDelete(true)}>
            <Icon name="trash" size={16} /> {t("knowledge.delete")}
          </button>
        )}
      </PageHeader>
      {editing ? (
        <form className="form card kb-form" onSubmit={save}>
          <label className="field">
            <span>{t("knowledge.name")}</span>
            <input required maxLength={200} value={name} onChange={(event) => setName(event.target.value)} autoFocus />
          </label>
          <label className="field">
            <span>{t("knowledge.description")}</span>
            <input maxLength={2000} value={description} onChange={(event) => setDescription(event.target.value)} />
          </label>
          <div className="row-end">
            <button type="button" className="button" onClick={() => setEditing(false)}>
              {t("app.cancel")}
            </button>
            <button type="submit" className="button primary" disabled={!name.trim()}>
              {t("knowledge.save")}
            </button>
          </div>
        </form>
      ) : (
        base.description && <p className="kb-description">{base.description}</p>
      )}
      {error && <Notice kind="error">{error}</Notice>}

      <section className="card" aria-labelledby="kb-files">
        <h2 id="kb-files">
          {t("knowledge.files")} <span className="muted small-text">({files?.length ?? base.file_count})</span>
        </h2>
        {canWrite && (
          <div className="kb-file-tools">
            <div className="inline-group">
              <select aria-label={t("knowledge.addFileLabel")} value={choice} onChange={(event) => setChoice(event.target.value)}>
                <option value="">{t("knowledge.chooseFile")}</option>
                {addable.map((file) => (
                  <option key={file.id} value={file.id}>
                    {file.filename}
                  </option>
                ))}
              </select>
              <button type="button" className="button" disabled={!choice} onClick={() => void addFile()}>
                <Icon name="plus" size={16} /> {t("knowledge.addFile")}
              </button>
            </div>
            <UploadButton label={t("knowledge.uploadInto")} onFiles={uploads.add} />
          </div>
        )}
        <UploadList label={t("knowledge.uploadInto")} uploads={uploads.uploads} onRemove={uploads.remove} />
        {files === null ? (
          <p className="muted">{t("app.loading")}</p>
        ) : files.length === 0 ? (
          <p className="muted">{t("knowledge.noFiles")}</p>
        ) : (
          <FileTable<KnowledgeBaseFile>
            files={files}
            downloading={downloading}
            onDownload={(file) => void download(file)}
            onDelete={canWrite ? setRemoving : undefined}
            deleteLabel={(file) => t("knowledge.removeFileLabel", { name: file.filename })}
            deleteText={t("knowledge.removeFile")}
          />
        )}
      </section>

      {isOwner && <SharingSection knowledgeBaseId={id} />}

      {confirmDelete && (
        <ConfirmDialog title={t("knowledge.deleteTitle")} confirmLabel={t("knowledge.delete")} danger onCancel={() => setConfirmDelete(false)} onConfirm={() => void remove()}>
          <p>{t("knowledge.deleteBody", { name: base.name })}</p>
        </ConfirmDialog>
      )}
      {removing && (
        <ConfirmDialog
          title={t("knowledge.removeFile")}
          confirmLabel={t("knowledge.removeFile")}
          danger
          onCancel={() => setRemoving(null)}
          onConfirm={() => void removeFile(removing)}
        >
          <p>{t("knowledge.removeFileLabel", { name: removing.filename })}</p>
        </ConfirmDialog>
      )}
    </div>
  );
}


