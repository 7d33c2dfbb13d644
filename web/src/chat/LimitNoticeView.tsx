import type { LimitNotice } from "@parley/sdk";
import { useTranslation } from "react-i18next";
import { Notice } from "../components/Notice";
import { answerStoppedSentence } from "../layout/limits";

/** Under an answer that stopped at a used-up quota: which one, and when it comes back. */
export function LimitNoticeView({ notice }: { notice: LimitNotice }) {
  const { t } = useTranslation();
  return (
    <div className="limit-notice" data-testid="limit-notice">
      <Notice kind="warning">{answerStoppedSentence(t, notice)}</Notice>
    </div>
  );
}
