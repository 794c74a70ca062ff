"""Full-text queries: a small syntax people type, rendered for SQLite FTS5 or PostgreSQL.

`beam lost` finds entries with both words, `"beam lost"` the phrase, `lyso*` words that
start so, `-debug` entries without the word. Words are never pasted into SQL or into a
match expression unquoted: PostgreSQL gets each term as a bound parameter, FTS5 as a quoted
string.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    func,
    literal_column,
    not_,
    select,
    text,
)

from catalogue.errors import InvalidQuery
from catalogue.schema import FULL_TEXT_COLUMN

MAX_QUERY = 500
MAX_TERMS = 16
_TOKEN = re.compile(r'\s*(-?)(?:"([^"]*)"|([^\s"]+))')
#: What separates words: anything but letters and digits (underscores too).
_SEPARATORS = re.compile(r"[\W_]+")


def search_words(text: str) -> str:
    """Text as both full-text indexes should read it: lower case, accents gone, and every
    character that is not a letter or digit a space.

    Left to themselves PostgreSQL's parser keeps `ID23-1`, `1.8`, paths and e-mail
    addresses as single tokens and keeps accents, while SQLite's splits them and folds
    accents: the same query would find different entries. Normalised first, both see the
    same words, and a query's words go through the same function.
    """
    lowered = text.lower()
    if not lowered.isascii():
        decomposed = unicodedata.normalize("NFKD", lowered)
        lowered = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", lowered).strip()


@dataclass(frozen=True, slots=True)
class Term:
    """A word, a phrase (several words in order) or a prefix; maybe negated."""

    words: tuple[str, ...]
    prefix: bool = False
    negated: bool = False


def parse_text_query(query: str, field: str = "q") -> list[Term]:
    """The terms of a query; 400 with the reason if there are none to look for."""
    if len(query) > MAX_QUERY:
        raise InvalidQuery(f"{field} is {len(query)} characters; at most {MAX_QUERY}", field)
    terms: list[Term] = []
    position = 0
    stripped = query.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None:
            quote = stripped.index('"', position) + 1
            raise InvalidQuery(f"{field}: unbalanced quote at character {quote}", field)
        position = match.end()
        negated, phrase, word = match.group(1) == "-", match.group(2), match.group(3)
        raw = phrase if phrase is not None else word
        prefix = phrase is None and raw.endswith("*")
        words = tuple(search_words(raw).split())
        if not words:
            continue
        if prefix and len(words) > 1:
            # `ID23-1*`: the words before the last must match exactly, the last as a prefix.
            terms.append(Term(words[:-1], negated=negated))
            words = words[-1:]
        terms.append(Term(words, prefix, negated))
    if len(terms) > MAX_TERMS:
        raise InvalidQuery(f"{field} has {len(terms)} terms; at most {MAX_TERMS}", field)
    if not any(not t.negated for t in terms):
        raise InvalidQuery(f"{field} needs at least one word to look for", field)
    return terms


def _fts5_term(term: Term) -> str:
    # Tokens are \w+ only, so they hold no quote; quoting keeps FTS5 operators inert.
    quoted = '"' + " ".join(term.words) + '"'
    return quoted + ("*" if term.prefix else "")


def fts5_match(terms: list[Term]) -> str:
    """An FTS5 MATCH expression: positive terms ANDed, then NOT each negated one."""
    positive = " AND ".join(_fts5_term(t) for t in terms if not t.negated)
    negative = "".join(f" NOT {_fts5_term(t)}" for t in terms if t.negated)
    return f"({positive}){negative}"


def pg_document(table: str = "logbook_entries") -> ColumnElement[Any]:
    """The entries' stored tsvector (`to_tsvector('simple', search_text)`, migration 0004),
    of the table or of a subquery of it by that name."""
    return literal_column(f"{table}.{FULL_TEXT_COLUMN}")


def _pg_query(term: Term, index: int) -> ColumnElement[str]:
    config: ColumnElement[Any] = literal_column("'simple'::regconfig")
    if term.prefix:
        # A letters-and-digits token quoted as a lexeme; ':*' makes it a prefix.
        lexeme = "'" + term.words[0] + "':*"
        return func.to_tsquery(config, bindparam(f"fts_{index}", lexeme))
    return func.phraseto_tsquery(config, bindparam(f"fts_{index}", " ".join(term.words)))


def text_condition(
    dialect: str,
    terms: list[Term],
    seq: ColumnElement[int],
    table: str = "logbook_entries",
) -> ColumnElement[bool]:
    """Rows whose text matches every term, for the connection's database."""
    if dialect == "postgresql":
        document = pg_document(table)
        # The positive terms make one tsquery (one GIN lookup); each negated term is a filter.
        positive: ColumnElement[Any] | None = None
        parts = []
        for index, term in enumerate(terms):
            query = _pg_query(term, index)
            if term.negated:
                parts.append(not_(document.bool_op("@@")(query)))
            else:
                positive = query if positive is None else positive.op("&&")(query)
        assert positive is not None  # parse_text_query guarantees a positive term
        return and_(document.bool_op("@@")(positive), *parts)
    matching: Select[Any] = (
        select(literal_column("rowid"))
        .select_from(text("logbook_fts"))
        .where(literal_column("logbook_fts").op("MATCH")(bindparam("fts_match", fts5_match(terms))))
    )
    return seq.in_(matching)
