import type { KnowledgeBaseAccess } from "@parley/sdk";
import { useTranslation } from "react-i18next";

const KEYS = { owner: "knowledge.accessOwner", write: "knowledge.accessWrite", read: "knowledge.accessRead" } as const;

export function AccessBadge({ access }: { access: KnowledgeBaseAccess }) {
  const { t } = useTranslation();
  return <span className={`status-badge access-${access}`}>{t(KEYS[access] ?? KEYS.read)}</span>;
}
