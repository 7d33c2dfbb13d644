import { type ComponentType, Suspense, useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { ErrorBoundary } from "./ErrorBoundary";
import { Icon } from "./Icon";
import { reloadableLazy } from "./reloadableLazy";

function Loading() {
  const { t } = useTranslation();
  return (
    <div className="loading" role="status">
      {t("app.loading")}
    </div>
  );
}

function PageFailed({ onRetry }: { onRetry(): void }) {
  const { t } = useTranslation();
  // Back online: try again by itself (a server that restarted has no such signal: that is what the button is for).
  useEffect(() => {
    window.addEventListener("online", onRetry);
    return () => window.removeEventListener("online", onRetry);
  }, [onRetry]);
  return (
    <div className="page-content narrow page-failed">
      <div className="notice notice-error" role="alert">
        <p>
          <strong>{t("app.pageFailed")}</strong>
        </p>
        <p>{t("app.pageFailedHint")}</p>
      </div>
      <div>
        <button type="button" className="button primary" onClick={onRetry}>
          <Icon name="refresh" size={16} /> {t("app.retry")}
        </button>
      </div>
    </div>
  );
}

/**
 * A page whose code loads on first visit, with what a person sees meanwhile ("Loading…") and when the code
 * cannot be fetched (the server is restarting, the network is down): a message and Try again, which fetches
 * it again, so the app recovers once the server is back without a reload. Other pages keep working.
 */
export function lazyPage(load: () => Promise<{ default: ComponentType }>): ComponentType {
  const component = reloadableLazy(load);
  function LazyPage() {
    // Each retry mounts a new boundary around a component that imports again.
    const [attempt, setAttempt] = useState(0);
    const Page = component();
    return (
      <ErrorBoundary key={attempt} fallback={() => <PageFailed onRetry={() => setAttempt((n) => n + 1)} />}>
        <Suspense fallback={<Loading />}>
          <Page />
        </Suspense>
      </ErrorBoundary>
    );
  }
  return LazyPage;
}
