"""Each scrollable table region (div.table-scroll, role="region", focusable so a keyboard can
scroll it) is a landmark, and a screen reader lists landmarks by name: on a page with several
tables every region needs a name of its own (axe's landmark-unique). The name says which table,
by its caption, and that it scrolls sideways. Checked over HTTP, by parsing the HTML."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ZH, make_person, pass_exam, ready_for_exam, sign_in
from trainer.db import Database


class _Regions(HTMLParser):
    """Every region's accessible name (aria-label, else the text of its aria-labelledby ids),
    every table-scroll region's caption text, and the text of every element with an id."""

    def __init__(self) -> None:
        super().__init__()
        self.regions: list[dict[str, str | None]] = []  # label, labelledby, caption, class
        self.texts: dict[str, str] = {}
        self._open_ids: list[tuple[str, str]] = []  # (id, tag) of the elements being read
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("role") == "region":
            self.regions.append(
                {
                    "label": values.get("aria-label"),
                    "labelledby": values.get("aria-labelledby"),
                    "class": values.get("class") or "",
                    "caption": None,
                }
            )
        if tag == "caption" and self.regions:
            self._in_caption = True
            self.regions[-1]["caption"] = ""
        if values.get("id"):
            self._open_ids.append((str(values["id"]), tag))
            self.texts[str(values["id"])] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False
        if self._open_ids and self._open_ids[-1][1] == tag:
            self._open_ids.pop()

    def handle_data(self, data: str) -> None:
        if self._in_caption and self.regions:
            self.regions[-1]["caption"] = (self.regions[-1]["caption"] or "") + data
        for element_id, _ in self._open_ids:
            self.texts[element_id] += data


def table_regions(page: str) -> list[tuple[str, str]]:
    """(accessible name, caption) of every table-scroll region on the page, whitespace folded."""
    parser = _Regions()
    parser.feed(page)
    found = []
    for region in parser.regions:
        if "table-scroll" not in str(region["class"]).split():
            continue
        if region["label"] is not None:
            name = str(region["label"])
        else:
            name = " ".join(parser.texts.get(i, "") for i in str(region["labelledby"] or "").split())
        found.append((" ".join(name.split()), " ".join(str(region["caption"] or "").split())))
    return found


def assert_named_apart(page: str, at_least: int = 2) -> list[str]:
    regions = table_regions(page)
    names = [name for name, _ in regions]
    assert len(regions) >= at_least, regions
    assert all(names), regions
    assert len(set(names)) == len(names), f"two table regions share a name: {names}"
    for name, caption in regions:  # the name says which table: its caption
        assert caption, name
        assert caption in name, (name, caption)
    return names


def test_two_regions_with_one_name_are_caught() -> None:
    """The check itself: the old markup (every region "Table (scrolls sideways)") fails it."""
    old = "".join(
        f'<div class="table-scroll" tabindex="0" role="region" aria-label="Table (scrolls sideways)">'
        f"<table><caption>{caption}</caption></table></div>"
        for caption in ("Certificates", "Progress per course")
    )
    with pytest.raises(AssertionError, match="share a name"):
        assert_named_apart(old)
    labelled = old.replace('aria-label="Table (scrolls sideways)"', 'aria-labelledby="c"', 1).replace(
        "<caption>Certificates", '<caption id="c">Certificates', 1
    )
    assert table_regions(labelled)[0] == ("Certificates", "Certificates")


@pytest.mark.parametrize(
    ("headers", "suffix"), [({}, "(table, scrolls sideways)"), (ZH, "（表格，可左右滚动）")]
)
def test_every_table_region_has_its_own_name(
    client: TestClient, migrated_database: Database, headers: dict[str, str], suffix: str
) -> None:
    """A person's page (certificates, courses, attempts, events), the content status (a table
    per course, per domain, and the translations) and an inspector's results after an exam."""
    api_headers, inspector = ready_for_exam(client, migrated_database)
    inspector_unit = "Heilongjiang/Harbin/Daoli District/Bureau"  # ready_for_exam's
    pass_exam(client, migrated_database, api_headers)

    sign_in(client, make_person(migrated_database, "manager", unit=inspector_unit))
    person = client.get(f"/people/{inspector.id}", headers=headers)
    assert person.status_code == 200, person.text[:300]
    assert len(assert_named_apart(person.text, at_least=4)) == 4

    sign_in(client, make_person(migrated_database, "trainer", unit=None))
    content = client.get("/trainer/content", headers=headers)
    assert content.status_code == 200
    names = assert_named_apart(content.text, at_least=3)
    assert all(name.endswith(suffix) for name in names), names

    sign_in(client, inspector)
    results = client.get("/me/results", headers=headers)
    assert results.status_code == 200
    assert_named_apart(results.text)
