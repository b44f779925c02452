#!/usr/bin/env python3
"""A library crate's public API, from rustdoc's JSON output.

    public_api.py list  CRATE JSON      one line per public item, sorted
    public_api.py count CRATE JSON      `<crate> <total> <kind>=<n> ...`
    public_api.py diff  CRATE OLD NEW   compare two listings (see below)

The walk starts at the crate root and follows what a user of the crate can
name: public modules and what they hold, `pub use` re-exports (under the
name they are exported as), structs and their public fields, enums and
their variants, traits and their items, the public methods and constants of
inherent impls, trait impls (auto traits too: losing `Send` breaks users),
functions, constants, statics, type aliases, macros. An item reachable only
through a `#[doc(hidden)]` module is not in the JSON and not listed.

A line says what a user depends on, so that a breaking change changes or
removes a line:
- an exhaustive struct whose fields are all public lists them in its line
  (adding one breaks struct literals); a `#[non_exhaustive]` one lists them
  as lines of their own (adding one is compatible);
- an exhaustive enum lists its variants in its line (adding one breaks
  matches); a `#[non_exhaustive]` enum's variants are lines of their own;
- a trait lists its required items in its line (adding one breaks
  implementors); provided items are lines of their own;
- a function's line is its signature: generics, bounds, arguments, result.

`diff` prints the removed (`-`) and added (`+`) lines. A removed line is a
breaking change: the old item, or the old form of it, is gone.
"""

import json
import sys
from collections import Counter


def die(message):
    sys.stderr.write(f"public_api.py: {message}\n")
    sys.exit(2)


class Api:
    def __init__(self, crate, doc):
        self.crate = crate.replace("-", "_")
        self.index = doc["index"]
        self.paths = doc.get("paths", {})
        self.lines = set()
        self.kinds = Counter()
        self.seen = set()
        self.public = {}

    # --- lookups -------------------------------------------------------

    def item(self, id_):
        if id_ is None:
            return None
        return self.index.get(str(id_))

    def local(self, found):
        return found is not None and found.get("crate_id") == 0

    @staticmethod
    def non_exhaustive(found):
        for attr in found.get("attrs", []):
            # Older formats: "#[non_exhaustive]"; newer: "non_exhaustive" or
            # {"non_exhaustive": ...}.
            if isinstance(attr, str) and "non_exhaustive" in attr:
                return True
            if isinstance(attr, dict) and "non_exhaustive" in attr:
                return True
        return False

    # --- rendering of types --------------------------------------------

    def path_name(self, path):
        """A resolved path, named so that moving an item between private
        modules changes nothing: the crate's own items by the public path a
        user writes (the shortest), other crates' by `crate::Name` (their
        definition paths go through private modules), the standard
        library's by its full path."""
        id_ = str(path.get("id"))
        if id_ in self.public:
            name = self.public[id_]
        else:
            summary = self.paths.get(id_)
            segments = summary.get("path") if summary else None
            if segments and segments[0] in ("core", "alloc", "std"):
                name = "::".join(segments)
            elif segments:
                name = f"{segments[0]}::{segments[-1]}" if len(segments) > 1 else segments[0]
            else:
                name = path.get("path") or path.get("name") or "?"
        return name + self.generic_args(path.get("args"))

    def collect_public(self, id_, here, depth=0):
        """Pre-pass: the shortest public path of each of the crate's items."""
        found = self.item(id_)
        if not self.local(found) or depth > 64:
            return
        known = self.public.get(str(id_))
        if known is not None and (len(known), known) <= (len(here), here):
            return
        self.public[str(id_)] = here
        (kind, inner), = found["inner"].items()
        if kind != "module":
            return
        for child in inner["items"]:
            item = self.item(child)
            if not self.local(item):
                continue
            (ckind, cinner), = item["inner"].items()
            if ckind == "use":
                if cinner.get("is_glob", cinner.get("glob")):
                    target = self.item(cinner.get("id"))
                    if self.local(target) and "module" in target["inner"]:
                        for grandchild in target["inner"]["module"]["items"]:
                            g = self.item(grandchild)
                            if self.local(g) and g.get("name"):
                                self.collect_public(grandchild, f"{here}::{g['name']}", depth + 1)
                    continue
                self.collect_public(cinner.get("id"), f"{here}::{cinner.get('name')}", depth + 1)
            elif item.get("name"):
                self.collect_public(child, f"{here}::{item['name']}", depth + 1)

    def generic_args(self, args):
        if not args:
            return ""
        if isinstance(args, str):
            return ""
        if "angle_bracketed" in args:
            inner = args["angle_bracketed"]
            parts = [self.generic_arg(a) for a in inner.get("args", [])]
            for c in inner.get("constraints", inner.get("bindings", [])):
                parts.append(self.constraint(c))
            return f"<{', '.join(parts)}>" if parts else ""
        if "parenthesized" in args:
            inner = args["parenthesized"]
            inputs = ", ".join(self.ty(t) for t in inner.get("inputs", []))
            output = inner.get("output")
            return f"({inputs})" + (f" -> {self.ty(output)}" if output else "")
        return json.dumps(args, sort_keys=True)

    def generic_arg(self, arg):
        if isinstance(arg, str):
            return "_"
        if "lifetime" in arg:
            return arg["lifetime"]
        if "type" in arg:
            return self.ty(arg["type"])
        if "const" in arg:
            const = arg["const"]
            return str(const.get("expr", const.get("value", "?")))
        return json.dumps(arg, sort_keys=True)

    def constraint(self, c):
        name = c.get("name", "?") + self.generic_args(c.get("args"))
        binding = c.get("binding", {})
        if "equality" in binding:
            term = binding["equality"]
            value = self.ty(term["type"]) if "type" in term else str(term.get("constant", "?"))
            return f"{name} = {value}"
        if "constraint" in binding:
            return f"{name}: {self.bounds(binding['constraint'])}"
        return name

    def bounds(self, bounds):
        return " + ".join(self.bound(b) for b in bounds)

    def bound(self, b):
        if "trait_bound" in b:
            tb = b["trait_bound"]
            modifier = {"maybe": "?", "maybe_const": "~const "}.get(tb.get("modifier"), "")
            hrtb = self.for_lifetimes(tb.get("generic_params", []))
            return f"{hrtb}{modifier}{self.path_name(tb['trait'])}"
        if "outlives" in b:
            return b["outlives"]
        if "use" in b:
            return "use<...>"
        return json.dumps(b, sort_keys=True)

    def for_lifetimes(self, params):
        names = [p["name"] for p in params if "lifetime" in p.get("kind", {})]
        return f"for<{', '.join(names)}> " if names else ""

    def ty(self, t):
        if t is None:
            return "()"
        if isinstance(t, str):
            return "_" if t == "infer" else t
        (kind, value), = t.items()
        if kind == "resolved_path":
            return self.path_name(value)
        if kind == "generic":
            return value
        if kind == "primitive":
            return value
        if kind == "tuple":
            return "(" + ", ".join(self.ty(x) for x in value) + ("," if len(value) == 1 else "") + ")"
        if kind == "slice":
            return f"[{self.ty(value)}]"
        if kind == "array":
            return f"[{self.ty(value['type'])}; {value.get('len', '?')}]"
        if kind == "borrowed_ref":
            lifetime = value.get("lifetime")
            mutable = "mut " if value.get("is_mutable", value.get("mutable")) else ""
            return f"&{lifetime + ' ' if lifetime else ''}{mutable}{self.ty(value['type'])}"
        if kind == "raw_pointer":
            mutable = "mut" if value.get("is_mutable", value.get("mutable")) else "const"
            return f"*{mutable} {self.ty(value['type'])}"
        if kind == "dyn_trait":
            traits = [self.for_lifetimes(p.get("generic_params", [])) + self.path_name(p["trait"])
                      for p in value.get("traits", [])]
            if value.get("lifetime"):
                traits.append(value["lifetime"])
            return "dyn " + " + ".join(traits)
        if kind == "impl_trait":
            return "impl " + self.bounds(value)
        if kind == "qualified_path":
            trait = value.get("trait")
            self_type = self.ty(value["self_type"])
            name = value.get("name", "?") + self.generic_args(value.get("args"))
            if trait:
                return f"<{self_type} as {self.path_name(trait)}>::{name}"
            return f"{self_type}::{name}"
        if kind == "function_pointer":
            sig = value.get("sig", value.get("decl", {}))
            return "fn" + self.signature(sig)
        return json.dumps(t, sort_keys=True)

    def generics(self, generics):
        """`<params>` and ` where ...` of an item."""
        if not generics:
            return "", ""
        params = []
        for p in generics.get("params", []):
            kind = p.get("kind", {})
            if "lifetime" in kind:
                outlives = kind["lifetime"].get("outlives", [])
                params.append(p["name"] + (f": {' + '.join(outlives)}" if outlives else ""))
            elif "type" in kind:
                if kind["type"].get("is_synthetic", kind["type"].get("synthetic")):
                    continue  # `impl Trait` in argument position, shown there
                bounds = kind["type"].get("bounds", [])
                default = kind["type"].get("default")
                text = p["name"] + (f": {self.bounds(bounds)}" if bounds else "")
                if default is not None:
                    text += f" = {self.ty(default)}"
                params.append(text)
            elif "const" in kind:
                params.append(f"const {p['name']}: {self.ty(kind['const'].get('type'))}")
        preds = []
        for w in generics.get("where_predicates", []):
            if "bound_predicate" in w:
                bp = w["bound_predicate"]
                hrtb = self.for_lifetimes(bp.get("generic_params", []))
                preds.append(f"{hrtb}{self.ty(bp['type'])}: {self.bounds(bp.get('bounds', []))}")
            elif "lifetime_predicate" in w:
                lp = w["lifetime_predicate"]
                preds.append(f"{lp['lifetime']}: {' + '.join(lp.get('outlives', []))}")
            elif "eq_predicate" in w:
                ep = w["eq_predicate"]
                rhs = ep.get("rhs", {})
                value = self.ty(rhs["type"]) if "type" in rhs else str(rhs)
                preds.append(f"{self.ty(ep['lhs'])} = {value}")
        return (f"<{', '.join(params)}>" if params else ""), (f" where {', '.join(preds)}" if preds else "")

    def signature(self, sig):
        inputs = []
        for name, t in sig.get("inputs", []):
            rendered = self.ty(t)
            if name == "self":
                if rendered == "Self":
                    inputs.append("self")
                elif rendered == "&Self":
                    inputs.append("&self")
                elif rendered == "&mut Self":
                    inputs.append("&mut self")
                else:
                    inputs.append(f"self: {rendered}")
            else:
                inputs.append(f"{name}: {rendered}")
        output = sig.get("output")
        return f"({', '.join(inputs)})" + (f" -> {self.ty(output)}" if output is not None else "")

    def function(self, path, inner, prefix="pub fn"):
        header = inner.get("header", {})
        qualifiers = "".join(
            word + " "
            for word, on in (
                ("const", header.get("is_const", header.get("const"))),
                ("async", header.get("is_async", header.get("async"))),
                ("unsafe", header.get("is_unsafe", header.get("unsafe"))),
            )
            if on
        )
        params, where = self.generics(inner.get("generics"))
        sig = inner.get("sig", inner.get("decl", {}))
        return f"{prefix.replace('fn', qualifiers + 'fn')} {path}{params}{self.signature(sig)}{where}"

    # --- the walk ------------------------------------------------------

    def add(self, kind, line):
        if line not in self.lines:
            self.lines.add(line)
            self.kinds[kind] += 1

    def visit(self, id_, path):
        found = self.item(id_)
        if not self.local(found):
            return
        key = (str(id_), path)
        if key in self.seen:
            return
        self.seen.add(key)
        (kind, inner), = found["inner"].items()
        if kind == "use":
            target = self.item(inner.get("id"))
            name = inner.get("name")
            if inner.get("is_glob", inner.get("glob")):
                if self.local(target) and "module" in target["inner"]:
                    for child in target["inner"]["module"]["items"]:
                        self.visit(child, path)
                else:
                    self.add("use", f"pub use {inner.get('source')}::*")
                return
            here = f"{path}::{name}"
            if not self.local(target):
                self.add("use", f"pub use {here} = {inner.get('source')}")
            else:
                self.visit_named(inner["id"], here)
            return
        name = found.get("name")
        self.visit_named(id_, f"{path}::{name}" if name else path, found)

    def visit_named(self, id_, here, found=None):
        found = found or self.item(id_)
        if not self.local(found):
            return
        key = ("named", str(id_), here)
        if key in self.seen:
            return
        self.seen.add(key)
        (kind, inner), = found["inner"].items()
        if kind == "module":
            self.add("module", f"pub mod {here}")
            for child in inner["items"]:
                self.visit(child, here)
        elif kind == "struct":
            self.struct(here, found, inner)
        elif kind == "union":
            params, where = self.generics(inner.get("generics"))
            self.add("union", f"pub union {here}{params}{where}")
            for field in inner.get("fields", []):
                text = self.field(field)
                if text:
                    self.add("struct_field", f"pub field {here}::{text}")
            self.impls(here, inner)
        elif kind == "enum":
            self.enum(here, found, inner)
        elif kind == "trait":
            self.trait(here, found, inner)
        elif kind == "function":
            self.add("function", self.function(here, inner))
        elif kind == "constant":
            self.add("constant", f"pub const {here}: {self.ty(inner.get('type'))}")
        elif kind == "static":
            mutable = "mut " if inner.get("is_mutable", inner.get("mutable")) else ""
            self.add("static", f"pub static {mutable}{here}: {self.ty(inner.get('type'))}")
        elif kind == "type_alias":
            params, where = self.generics(inner.get("generics"))
            self.add("type_alias", f"pub type {here}{params}{where} = {self.ty(inner.get('type'))}")
        elif kind in ("macro", "proc_macro"):
            self.add("macro", f"macro {here}")
        elif kind == "trait_alias":
            self.add("trait_alias", f"pub trait {here} = ...")
        else:
            self.add(kind, f"{kind} {here}")

    def field(self, field_id, in_variant=False):
        """`name: Type` of a public field (a variant's fields are as public
        as the enum; rustdoc says `default` for them)."""
        if field_id is None:
            return None
        found = self.item(field_id)
        visible = ("public", "default") if in_variant else ("public",)
        if found is None or found.get("visibility") not in visible:
            return None
        name = found.get("name")
        t = self.ty(found["inner"].get("struct_field"))
        return f"{name}: {t}"

    def fields_of(self, kind, in_variant=False):
        """(public field texts, whether every field is public) of a struct or variant kind."""
        if kind is None or isinstance(kind, str):
            return [], True
        (shape, value), = kind.items()
        if shape == "tuple":
            texts = []
            for i, f in enumerate(value):
                text = self.field(f, in_variant)
                texts.append(text.split(": ", 1)[1] if text else None)
            return [t for t in texts if t], all(texts)
        ids = value.get("fields", [])
        texts = [self.field(f, in_variant) for f in ids]
        return [t for t in texts if t], all(texts) and not value.get("has_stripped_fields", value.get("fields_stripped"))

    def struct(self, here, found, inner):
        params, where = self.generics(inner.get("generics"))
        kind = inner.get("kind")
        fields, all_public = self.fields_of(kind)
        non_exhaustive = self.non_exhaustive(found)
        tuple_shape = isinstance(kind, dict) and "tuple" in kind
        if not non_exhaustive and all_public:
            # Constructible by users: the whole shape is the API.
            body = ""
            if tuple_shape:
                body = f"({', '.join(fields)})"
            elif isinstance(kind, dict):
                body = " { " + ", ".join(fields) + " }"
            self.add("struct", f"pub struct {here}{params}{body}{where}")
        else:
            marker = "#[non_exhaustive] " if non_exhaustive else ""
            self.add("struct", f"{marker}pub struct {here}{params}{where}")
            for text in fields:
                self.add("struct_field", f"pub field {here}::{text}" if not tuple_shape else f"pub field {here}.{text}")
        self.impls(here, inner)

    def variant_text(self, variant_id):
        found = self.item(variant_id)
        if found is None:
            return None
        inner = found["inner"]["variant"]
        kind = inner.get("kind")
        fields, _ = self.fields_of(kind, in_variant=True)
        if isinstance(kind, dict) and "tuple" in kind:
            return f"{found['name']}({', '.join(fields)})"
        if isinstance(kind, dict) and "struct" in kind:
            marker = "#[non_exhaustive] " if self.non_exhaustive(found) else ""
            return f"{marker}{found['name']} {{ {', '.join(fields)} }}"
        return found["name"]

    def enum(self, here, found, inner):
        params, where = self.generics(inner.get("generics"))
        variants = [self.variant_text(v) for v in inner.get("variants", [])]
        variants = [v for v in variants if v]
        if self.non_exhaustive(found):
            self.add("enum", f"#[non_exhaustive] pub enum {here}{params}{where}")
            for v in variants:
                self.add("variant", f"pub variant {here}::{v}")
        else:
            self.add("enum", f"pub enum {here}{params}{where} {{ {', '.join(variants)} }}")
        self.impls(here, inner)

    def trait(self, here, found, inner):
        params, where = self.generics(inner.get("generics"))
        required, provided = [], []
        for id_ in inner.get("items", []):
            item = self.item(id_)
            if item is None:
                continue
            (kind, value), = item["inner"].items()
            path = f"{here}::{item['name']}"
            if kind == "function":
                text = self.function(path, value, prefix="fn")
                (provided if value.get("has_body") else required).append(text)
            elif kind == "assoc_type":
                bounds = value.get("bounds", [])
                text = f"type {path}" + (f": {self.bounds(bounds)}" if bounds else "")
                (provided if value.get("type") is not None else required).append(text)
            elif kind == "assoc_const":
                text = f"const {path}: {self.ty(value.get('type'))}"
                (provided if value.get("value") is not None else required).append(text)
        supertraits = inner.get("bounds", [])
        sup = f": {self.bounds(supertraits)}" if supertraits else ""
        unsafe = "unsafe " if inner.get("is_unsafe") else ""
        body = "; ".join(sorted(required))
        self.add("trait", f"pub {unsafe}trait {here}{params}{sup}{where} {{ {body} }}")
        for text in provided:
            self.add("trait_item", f"provided {text}")
        for text in required:
            self.kinds["trait_item"] += 1

    def impls(self, here, inner):
        for impl_id in inner.get("impls", []):
            impl = (self.item(impl_id) or {}).get("inner", {}).get("impl")
            if impl is None or impl.get("blanket_impl") is not None:
                continue
            trait = impl.get("trait")
            if trait is None:
                for id_ in impl.get("items", []):
                    item = self.item(id_)
                    if item is None or item.get("visibility") != "public":
                        continue
                    (kind, value), = item["inner"].items()
                    path = f"{here}::{item['name']}"
                    if kind == "function":
                        self.add("method", self.function(path, value))
                    elif kind == "assoc_const":
                        self.add("assoc_const", f"pub const {path}: {self.ty(value.get('type'))}")
                    elif kind == "assoc_type":
                        self.add("assoc_type", f"pub type {path}")
                continue
            if impl.get("is_negative", impl.get("negative")):
                # `impl !Send`: rustdoc's note that an auto trait does not
                # hold. Gaining it is compatible; nothing to keep.
                continue
            negative = ""
            params, where = self.generics(impl.get("generics"))
            self.add("impl", f"impl{params} {negative}{self.path_name(trait)} for {self.ty(impl.get('for'))}{where}")


def load(crate, path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        die(f"cannot read rustdoc JSON {path}: {e}")
    api = Api(crate, doc)
    api.collect_public(doc["root"], api.crate)
    api.visit_named(doc["root"], api.crate)
    return api


def main(argv):
    if len(argv) == 4 and argv[1] in ("list", "count"):
        api = load(argv[2], argv[3])
        if argv[1] == "list":
            for line in sorted(api.lines):
                print(line)
        else:
            detail = " ".join(f"{kind}={n}" for kind, n in sorted(api.kinds.items()))
            print(f"{argv[2]} {sum(api.kinds.values())} {detail}")
        return 0
    if len(argv) == 5 and argv[1] == "diff":
        def read(path):
            try:
                with open(path) as f:
                    return {line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")}
            except OSError as e:
                die(f"cannot read {path}: {e}")
        old, new = read(argv[3]), read(argv[4])
        for line in sorted(old - new):
            print(f"- {line}")
        for line in sorted(new - old):
            print(f"+ {line}")
        return 0
    die("usage: public_api.py list|count CRATE JSON | diff CRATE OLD NEW")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
