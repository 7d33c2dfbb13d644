import { useTranslation } from "react-i18next";

/** Previous / next for a numbered list; nothing when everything fits on one page. */
export function Pager({ page, pages, onPage }: { page: number; pages: number; onPage: (page: number) => void }) {
  const { t } = useTranslation();
  if (pages <= 1) return null;
  return (
    <nav className="pager" aria-label={t("admin.page", { page, pages })}>
      <button type="button" className="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        {t("admin.previous")}
      </button>
      <span>{t("admin.page", { page, pages })}</span>
      <button type="button" className="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        {t("admin.next")}
      </button>
    </nav>
  );
}
