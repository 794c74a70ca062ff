"""Logbook content: Markdown rendered, HTML checked and sanitised, plain text extracted.

Two layers. `find_danger` reads the HTML as a browser's tokenizer would and names the
first script, event handler or external resource, so that an author is told what was
refused instead of finding it silently gone. Whatever passes is then cleaned by ammonia
(`nh3`, the HTML5 parsing algorithm) with an allow-list: if the two parsers ever disagree
on a mutation trick, the stored HTML is still safe.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser

import nh3
from markdown_it import MarkdownIt

from catalogue.errors import InvalidCommand

#: Elements that run code, load documents or submit data: refused outright.
FORBIDDEN_TAGS = frozenset(
    {
        "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet",
        "link", "meta", "base", "form", "input", "button", "textarea", "select", "option",
        "svg", "math", "template", "noscript", "portal", "video", "audio", "source",
        "track", "picture", "xml", "xss", "import", "param", "marquee", "isindex",
        # Raw-text and RCDATA elements: browsers read their content as text where Python's
        # parser may read tags, so a script could hide in them from the check.
        "title", "xmp", "noembed", "noframes", "plaintext", "listing", "head", "html", "body",
    }
)  # fmt: skip
#: Elements kept in stored HTML (everything else is unwrapped to its text).
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd",
        "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2",
        "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p",
        "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup",
        "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start"},
    "code": {"class"},
}
#: Attributes whose value is a URL the browser may follow or load.
_URL_ATTRIBUTES = frozenset(
    {"href", "src", "srcset", "action", "formaction", "background", "poster", "data",
     "lowsrc", "dynsrc", "xlink:href", "cite", "longdesc", "ping", "codebase", "manifest"}
)  # fmt: skip
#: Attributes that load a resource as soon as the page renders (links load on a click).
_LOADING_ATTRIBUTES = _URL_ATTRIBUTES - {"href", "cite", "longdesc"}
_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
#: Images may only show logbook attachments served by this service, never load elsewhere.
ATTACHMENT_PATH = re.compile(r"^/api/v1/logbook/entries/[0-9a-f-]{36}/attachments/[0-9a-f]{64}$")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")
#: Stripped before looking for a scheme: browsers ignore them in URLs (`java\tscript:`).
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")


class Markup:
    """The formats an entry's rich content may be written in."""

    MARKDOWN = "markdown"
    HTML = "html"
    ALL = (MARKDOWN, HTML)


@dataclass(frozen=True, slots=True)
class Rendered:
    """Rich content made safe: the HTML to show and its text for full-text search."""

    html: str
    text: str


class _DangerFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.found is None:
            self.found = _danger_in_tag(tag, attrs)

    handle_startendtag = handle_starttag

    def handle_comment(self, data: str) -> None:
        # Browsers and parsers disagree on where odd comments end (`<!-->`): refuse them all.
        if self.found is None:
            self.found = "HTML comments are not allowed"

    def handle_decl(self, decl: str) -> None:
        if self.found is None and "entity" in decl.lower():
            self.found = "a document type declaration with entities"

    def unknown_decl(self, data: str) -> None:
        if self.found is None:
            self.found = "a CDATA section or unknown declaration"


def _danger_in_tag(tag: str, attrs: list[tuple[str, str | None]]) -> str | None:
    if tag in FORBIDDEN_TAGS or ":" in tag:
        return f"the <{tag}> element is not allowed"
    for name, _ in attrs:
        if name.startswith("on"):
            return f"the event handler attribute {name}= on <{tag}> is not allowed"
    for name, value in attrs:
        if (
            name == "style"
            and value is not None
            and re.search(
                r"url\s*\(|expression\s*\(|@import|javascript:|behavior\s*:|-moz-binding",
                value,
                re.IGNORECASE,
            )
        ):
            return f"the style on <{tag}> loads a resource or runs code"
        if name in _URL_ATTRIBUTES and value is not None:
            problem = _danger_in_url(tag, name, value)
            if problem is not None:
                return problem
    return None


def _danger_in_url(tag: str, attribute: str, value: str) -> str | None:
    url = _URL_NOISE.sub("", html.unescape(value)).lower()
    scheme = _SCHEME.match(url)
    if scheme is not None and scheme.group(1) not in _LINK_SCHEMES:
        return f"{scheme.group(1)}: URLs are not allowed ({attribute}= on <{tag}>)"
    if attribute in _LOADING_ATTRIBUTES and not ATTACHMENT_PATH.match(value.strip()):
        return (
            f"<{tag} {attribute}=…> loads an external resource; attach the image to the entry "
            "and refer to it by its attachment URL"
        )
    return None


def find_danger(fragment: str) -> str | None:
    """The first script, event handler or external resource in an HTML fragment, or None."""
    finder = _DangerFinder()
    finder.feed(fragment)
    finder.close()
    return finder.found


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        value = value.strip()
        return value if ATTACHMENT_PATH.match(value) else None
    if tag == "code" and attribute == "class":
        # Markdown marks fenced code with its language; nothing else may set classes.
        return value if re.fullmatch(r"language-[A-Za-z0-9_+-]{1,40}", value) else None
    return value


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True, "linkify": False}).enable(
        ["table", "strikethrough"]
    )


#: Elements that separate words where they open and close (inline ones join them: `<b>be</b>am`).
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div",
        "dl", "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.parts.extend(f" {value} " for name, value in attrs if name == "alt" and value)
        elif tag in _BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.parts.append(" ")


def text_of(fragment: str) -> str:
    """The words of an HTML fragment, for full-text search."""
    extractor = _TextExtractor()
    extractor.feed(fragment)
    extractor.close()
    return " ".join("".join(extractor.parts).split())


def render(markup: str, source: str, field: str) -> Rendered:
    """Markdown or HTML as safe HTML; a script, event handler or external resource is refused."""
    if markup not in Markup.ALL:
        raise InvalidCommand(f"{field} format must be one of {', '.join(Markup.ALL)}", field)
    fragment = _markdown().render(source) if markup == Markup.MARKDOWN else source
    danger = find_danger(fragment)
    if danger is not None:
        raise InvalidCommand(f"{field}: {danger}", field)
    cleaned = nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_keep_attribute,
        url_schemes=set(_LINK_SCHEMES),
        clean_content_tags={"script", "style"},
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
    )
    return Rendered(cleaned, text_of(cleaned))
