import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useTranslation } from "react-i18next";
import { afterEach, describe, expect, it } from "vitest";
import i18n, { initialLanguage, setLanguage } from "../i18n";
import de from "../i18n/de";
import en from "../i18n/en";
import es from "../i18n/es";
import { LanguageSelect } from "./LanguageSelect";

function Sample() {
  const { t } = useTranslation();
  return <h1>{t("sidebar.newChat")}</h1>;
}

function keys(catalogue: object, prefix = ""): string[] {
  return Object.entries(catalogue).flatMap(([key, value]) =>
    typeof value === "string" ? [`${prefix}${key}`] : keys(value as object, `${prefix}${key}.`),
  );
}

afterEach(async () => {
  await setLanguage("en");
});

describe("language switch", () => {
  it("changes the UI text at once and remembers the choice", async () => {
    render(
      <>
        <Sample />
        <LanguageSelect showLabel />
      </>,
    );
    expect(screen.getByRole("heading")).toHaveTextContent("New chat");
    await userEvent.selectOptions(screen.getByLabelText("Language"), "de");
    expect(screen.getByRole("heading")).toHaveTextContent("Neuer Chat");
    expect(screen.getByLabelText("Sprache")).toHaveValue("de");
    expect(localStorage.getItem("parley.language")).toBe("de");
    expect(document.documentElement.lang).toBe("de");
    expect(initialLanguage()).toBe("de");
    await userEvent.selectOptions(screen.getByLabelText("Sprache"), "es");
    expect(screen.getByRole("heading")).toHaveTextContent("Nuevo chat");
  });

  it("has every English text in German and Spanish, none left empty", () => {
    const reference = keys(en).sort();
    for (const catalogue of [de, es]) {
      expect(keys(catalogue).sort()).toEqual(reference);
      for (const key of keys(catalogue)) expect(i18n.getFixedT(catalogue === de ? "de" : "es")(key)).not.toBe("");
    }
  });
});
