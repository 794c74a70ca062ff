"""The logbook's full-text query syntax (catalogue.readmodels.fulltext), as tables."""

from __future__ import annotations

import re
import sqlite3

import pytest

from catalogue.errors import InvalidQuery
from catalogue.readmodels.fulltext import MAX_QUERY, MAX_TERMS, Term, fts5_match, parse_text_query


def w(*words: str, prefix: bool = False, negated: bool = False) -> Term:
    return Term(tuple(words), prefix, negated)


PARSE = [
    pytest.param("beam", [w("beam")], id="word"),
    pytest.param("beam lost", [w("beam"), w("lost")], id="two-words"),
    pytest.param("  Beam   LOST  ", [w("beam"), w("lost")], id="spaces-and-case"),
    pytest.param("beam\tlost\nagain", [w("beam"), w("lost"), w("again")], id="tabs-newlines"),
    pytest.param('"beam lost"', [w("beam", "lost")], id="phrase"),
    pytest.param('"Beam,  lost!"', [w("beam", "lost")], id="phrase-punctuation-dropped"),
    pytest.param('refill "beam lost" ok', [w("refill"), w("beam", "lost"), w("ok")],
                 id="phrase-between-words"),
    pytest.param('foo"bar"', [w("foo"), w("bar")], id="phrase-glued-to-word"),
    pytest.param("lyso*", [w("lyso", prefix=True)], id="prefix"),
    pytest.param("ID23-1*", [w("id23"), w("1", prefix=True)],
                 id="prefix-of-beamline-name-last-word-only"),
    pytest.param("ID23-1", [w("id23", "1")], id="beamline-name-as-phrase"),
    pytest.param("x*y", [w("x", "y")], id="star-inside-word-not-prefix"),
    pytest.param('"beam lost"*', [w("beam", "lost")], id="star-after-phrase-ignored"),
    pytest.param("-debug beam", [w("debug", negated=True), w("beam")], id="negated-word"),
    pytest.param('beam -"hutch open"', [w("beam"), w("hutch", "open", negated=True)],
                 id="negated-phrase"),
    pytest.param("beam -lyso*", [w("beam"), w("lyso", prefix=True, negated=True)],
                 id="negated-prefix"),
    pytest.param("beam -ID23-1*", [w("beam"), w("id23", negated=True),
                                   w("1", prefix=True, negated=True)],
                 id="negated-split-prefix"),
    pytest.param("beam-lost", [w("beam", "lost")], id="hyphen-inside-word-is-a-phrase"),
    pytest.param("... beam !!", [w("beam")], id="punctuation-only-words-dropped"),
    pytest.param("* beam", [w("beam")], id="lone-star-dropped"),
    pytest.param('-"" beam', [w("beam")], id="empty-negated-phrase-dropped"),
    pytest.param("- beam", [w("beam")], id="lone-minus-dropped"),
    pytest.param("^beam", [w("beam")], id="fts5-caret-dropped"),
    pytest.param("café Ångström", [w("cafe"), w("angstrom")], id="accents-folded"),
    pytest.param("Δ λ", [w("δ"), w("λ")], id="non-latin-letters-kept"),
    pytest.param("snake_case", [w("snake", "case")], id="underscore-separates"),
    pytest.param(" ".join(f"w{i}" for i in range(MAX_TERMS)),
                 [w(f"w{i}") for i in range(MAX_TERMS)], id="max-terms"),
    pytest.param("a" * MAX_QUERY, [w("a" * MAX_QUERY)], id="max-length"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "terms"), PARSE)
def test_parse_text_query(query: str, terms: list[Term]) -> None:
    assert parse_text_query(query) == terms


REFUSED = [
    pytest.param('"beam', "unbalanced quote at character 1", id="unbalanced-at-start"),
    pytest.param('beam "lost', "unbalanced quote at character 6", id="unbalanced-later"),
    pytest.param('a"b', "unbalanced quote at character 2", id="unbalanced-inside-word"),
    pytest.param('"a" "b" "c', "unbalanced quote at character 9", id="unbalanced-third"),
    pytest.param('beam -"lost', "unbalanced quote at character 7", id="unbalanced-negated"),
    pytest.param("", "needs at least one word", id="empty"),
    pytest.param("   ", "needs at least one word", id="blank"),
    pytest.param("... !!! ***", "needs at least one word", id="punctuation-only"),
    pytest.param('""', "needs at least one word", id="empty-phrase"),
    pytest.param("-debug", "needs at least one word", id="only-negated"),
    pytest.param('-a -"b c" -d*', "needs at least one word", id="only-negated-kinds"),
    pytest.param("a" * (MAX_QUERY + 1), f"is {MAX_QUERY + 1} characters; at most {MAX_QUERY}",
                 id="too-long"),
    pytest.param(" ".join(f"w{i}" for i in range(MAX_TERMS + 1)),
                 f"has {MAX_TERMS + 1} terms; at most {MAX_TERMS}", id="too-many-terms"),
    pytest.param(" ".join(f"id{i}-1*" for i in range(9)), "has 18 terms; at most 16",
                 id="split-prefixes-count-as-terms"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "fragment"), REFUSED)
def test_parse_text_query_refused(query: str, fragment: str) -> None:
    with pytest.raises(InvalidQuery) as raised:
        parse_text_query(query, "q")
    assert raised.value.field == "q"
    assert raised.value.status == 400
    assert fragment in raised.value.detail


def test_refusal_names_the_parameter_it_was_given() -> None:
    with pytest.raises(InvalidQuery) as raised:
        parse_text_query('"x', "search")
    assert raised.value.field == "search"
    assert raised.value.detail.startswith("search: ")


MATCH = [
    pytest.param("beam lost", '("beam" AND "lost")', id="words-anded"),
    pytest.param('"beam lost"', '("beam lost")', id="phrase"),
    pytest.param("lyso*", '("lyso"*)', id="prefix-outside-quotes"),
    pytest.param("ID23-1*", '("id23" AND "1"*)', id="split-prefix"),
    pytest.param('beam -debug -"hutch open"', '("beam") NOT "debug" NOT "hutch open"',
                 id="negations-after"),
    pytest.param("text:foo OR bar", '("text foo" AND "or" AND "bar")', id="column-filter-or"),
    pytest.param("beam AND NOT lost", '("beam" AND "and" AND "not" AND "lost")',
                 id="and-not-as-words"),
    pytest.param("NEAR(beam lost, 2)", '("near beam" AND "lost" AND "2")', id="near"),
    pytest.param("{text html_text}: beam", '("text" AND "html text" AND "beam")',
                 id="column-set"),
    pytest.param("^beam + lost", '("beam" AND "lost")', id="caret-plus"),
    pytest.param("beam) OR (x", '("beam" AND "or" AND "x")', id="parentheses"),
    pytest.param("beam'; DROP TABLE logbook_fts; --", '("beam" AND "drop" AND "table" AND '
                 '"logbook fts")', id="sql-in-query"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "expression"), MATCH)
def test_fts5_match(query: str, expression: str) -> None:
    assert fts5_match(parse_text_query(query)) == expression


#: Only quoted strings of word characters and spaces, each maybe with a `*`, joined by the
#: operators fts5_match itself writes.
QUOTED = r'"[\w ]+"\*?'
SHAPE = re.compile(rf"\({QUOTED}(?: AND {QUOTED})*\)(?: NOT {QUOTED})*")

HOSTILE = [
    "text:foo OR bar",
    "html_text : beam",
    "- text:foo beam",
    'beam "OR" "NEAR(a b)"',
    "a AND b OR c NOT d",
    "col:pre* OR *",
    'x "y" -"z" w*',
    "{a b}:c d",
    "beam\u00a0OR\u2003lost",
    "\"beam's\" l'eau",
    "%_\\beam",
    "\x00beam\x1f",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_fts5_match_has_only_quoted_terms(query: str) -> None:
    expression = fts5_match(parse_text_query(query))
    assert SHAPE.fullmatch(expression), expression


def _fts5() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute("CREATE VIRTUAL TABLE docs USING fts5(text, html_text)")
    except sqlite3.OperationalError:  # pragma: no cover - FTS5 is in every CPython build
        pytest.skip("this SQLite has no FTS5")
    connection.executemany(
        "INSERT INTO docs(rowid, text, html_text) VALUES (?, ?, ?)",
        [
            (1, "foo", ""),
            (2, "bar", ""),
            (3, "text foo or bar", ""),
            (4, "beam lost on ID23-1", ""),
            (5, "beam lost", "hutch open"),
            (6, "lysozyme crystal", "debug"),
            (7, "lost beam", ""),
        ],
    )
    return connection


# query -> rowids an in-memory FTS5 table returns for fts5_match's expression: FTS5's own
# operators and column filters typed by a user stay words
FTS5_ROWS = [
    pytest.param("text:foo OR bar", [3], id="column-filter-and-or-are-words"),
    pytest.param("foo OR bar", [3], id="or-is-a-word"),
    pytest.param('"beam lost"', [4, 5], id="phrase-in-order"),
    pytest.param("beam lost", [4, 5, 7], id="words-any-order"),
    pytest.param('beam lost -"hutch open"', [4, 7], id="negated-phrase-in-any-column"),
    pytest.param("lyso*", [6], id="prefix"),
    pytest.param("ID23-1*", [4], id="beamline-prefix"),
    pytest.param("crystal -debug", [], id="negated-word"),
    pytest.param("NEAR(beam lost)", [], id="near-is-a-word"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "rows"), FTS5_ROWS)
def test_fts5_match_runs_in_fts5(query: str, rows: list[int]) -> None:
    connection = _fts5()
    found = connection.execute(
        "SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY rowid",
        (fts5_match(parse_text_query(query)),),
    ).fetchall()
    assert [row for (row,) in found] == rows
