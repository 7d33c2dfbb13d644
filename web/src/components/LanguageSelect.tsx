import { useId } from "react";
import { useTranslation } from "react-i18next";
import { LANGUAGES, type Language, setLanguage } from "../i18n";

/** Switches the UI language at once and remembers it. */
export function LanguageSelect({ showLabel = false }: { showLabel?: boolean }) {
  const { t, i18n } = useTranslation();
  const id = useId();
  const current = (LANGUAGES as readonly string[]).includes(i18n.language) ? i18n.language : "en";
  return (
    <div className="language-select">
      <label htmlFor={id} className={showLabel ? "" : "visually-hidden"}>
        {t("settings.language")}
      </label>
      <select id={id} value={current} onChange={(event) => void setLanguage(event.target.value as Language)}>
        {LANGUAGES.map((language) => (
          <option key={language} value={language} lang={language}>
            {t(`language.${language}`)}
          </option>
        ))}
      </select>
    </div>
  );
}
