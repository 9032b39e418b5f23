"""Browser-like form handling for the harness: read a rendered pfSense form, post it."""

from html.parser import HTMLParser


class Form(HTMLParser):
    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.fields = {}  # name -> dict(type, value, checked, options)
        self._select = None
        self._textarea = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name:
            self.fields[name] = {
                "tag": "input",
                "type": a.get("type", "text"),
                "value": a.get("value", ""),
                "checked": "checked" in a,
            }
        elif tag == "select" and name:
            self._select = name
            self.fields[name] = {"tag": "select", "value": None, "first": None}
        elif tag == "option" and self._select:
            f = self.fields[self._select]
            if f["first"] is None:
                f["first"] = a.get("value", "")
            if "selected" in a:
                f["value"] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = {"tag": "textarea", "value": ""}

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            f = self.fields[self._select]
            if f["value"] is None:
                f["value"] = f["first"]
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea]["value"] += data

    def post(self, edits, disabled_when_unchecked=None):
        """What a browser posts after the user's ``edits`` (checkbox: True/False)."""
        out = {}
        for name, f in self.fields.items():
            if f["tag"] == "input" and f["type"] == "checkbox":
                on = edits.get(name, f["checked"])
                if on:
                    out[name] = f["value"] or "on"
                continue
            if f["tag"] == "input" and f["type"] in ("submit", "button"):
                continue
            out[name] = edits.get(name, f["value"])
        out["save"] = "Save"
        # pkg_edit.php's enablefields JS disables <input name=X> while the box is unchecked;
        # browsers do not post disabled inputs.
        for box, names in (disabled_when_unchecked or {}).items():
            if box not in out:
                for n in names:
                    if self.fields.get(n, {}).get("tag") == "input":
                        out.pop(n, None)
        return out
