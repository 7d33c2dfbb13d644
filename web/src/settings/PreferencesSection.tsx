import { useTranslation } from "react-i18next";
import { LanguageSelect } from "../components/LanguageSelect";
import { type ThemeChoice, useTheme } from "../theme/theme";

const THEMES: { value: ThemeChoice; key: "themeLight" | "themeDark" | "themeSystem" }[] = [
  { value: "light", key: "themeLight" },
  { value: "dark", key: "themeDark" },
  { value: "system", key: "themeSystem" },
];

export function PreferencesSection() {
  const { t } = useTranslation();
  const [theme, setTheme] = useTheme();
  return (
    <section className="card" aria-labelledby="preferences-title">
      <h2 id="preferences-title">{t("settings.preferences")}</h2>
      <div className="form">
        <LanguageSelect showLabel />
        <fieldset className="segmented">
          <legend>{t("settings.theme")}</legend>
          {THEMES.map((option) => (
            <label key={option.value} className={theme === option.value ? "selected" : ""}>
              <input type="radio" name="theme" value={option.value} checked={theme === option.value} onChange={() => setTheme(option.value)} />
              {t(`settings.${option.key}`)}
            </label>
          ))}
        </fieldset>
      </div>
    </section>
  );
}
