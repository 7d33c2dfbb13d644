import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";

/** The results of a filtered admin list: loading (nothing while an error is shown instead), nothing found, or
 * how many there are, their table and what follows it (a pager). */
export function ResultsCard({
  found,
  error,
  none,
  count,
  children,
  footer,
}: {
  found: { items: unknown[]; total: number } | null;
  error: string | null;
  none: string;
  count: string;
  children: ReactNode;
  footer?: ReactNode;
}) {
  const { t } = useTranslation();
  if (found === null) {
    return error ? null : (
      <p className="muted" role="status">
        {t("app.loading")}
      </p>
    );
  }
  if (found.items.length === 0) return <p className="muted">{none}</p>;
  return (
    <section className="card">
      <p className="muted">{count}</p>
      <div className="table-wrap">{children}</div>
      {footer}
    </section>
  );
}
