"""Read Fides-format dataset YAML unchanged, into Pledge's :class:`Dataset`.

A Fides file holds ``dataset:``, a list of datasets, each with a ``fides_key`` and
``collections`` of ``fields``. Fields carry ``data_categories`` and ``fides_meta``
(``identity``, ``primary_key``, ``data_type``, ``references`` of
``{dataset, field: collection.field, direction}``, ``read_only`` and a
``masking_strategy_override``). Collections may carry ``fides_meta`` too
(``after``/``erase_after``, ``skip_processing``, ``masking_strategy_override``).

Each Fides dataset becomes one :class:`Database` named by its ``fides_key``. The
result is checked by the same model as a native file, and every error still names the
line of the Fides file it comes from.

Mapping choices (Pledge has no equivalent for some Fides ideas):

* masking: ``null_rewrite`` -> null, ``random_string_rewrite`` -> fake,
  ``string_rewrite`` -> redact, ``hash``/``hmac``/``aes_encrypt`` -> hmac (a keyed
  pseudonym), collection ``delete`` -> delete the row.
* ``read_only: true`` -> the field is kept (``erasure: retain``).
* identities: ``email`` and ``phone_number`` map to email and phone; ``user_id``,
  ``customer_id``, ``external_id`` and ``person_tag`` keep their names; any other custom
  identity becomes ``external_id``.
* a reference without ``direction`` (walkable both ways in Fides) is read as ``from``,
  the foreign-key direction.
* ``skip_processing: true`` leaves the collection out, with references into it.
* a dataset-level ``after: [other_dataset]`` puts every collection after all of that
  dataset's collections.
"""

from __future__ import annotations

from typing import Any

from pledge.datamap.model import Dataset
from pledge.yamlio import Document, FieldPath, LoadError, Problem, SourceMap, format_path, validate

MASKING: dict[str, str] = {
    "null_rewrite": "null",
    "random_string_rewrite": "fake",
    "string_rewrite": "redact",
    "hash": "hmac",
    "hmac": "hmac",
    "aes_encrypt": "hmac",
    "delete": "delete",
}

IDENTITIES: dict[str, str] = {
    "email": "email",
    "phone_number": "phone",
    "phone": "phone",
    "user_id": "user_id",
    "customer_id": "customer_id",
    "external_id": "external_id",
    "person_tag": "person_tag",
}

_DATASET_KEYS = {"fides_key", "name", "description", "organization_fides_key", "tags", "meta",
                 "data_categories", "data_qualifier", "retention", "joint_controller",
                 "third_country_transfers", "fides_meta", "collections", "fidesctl_meta"}
_DATASET_META = {"after", "namespace", "resource_id"}
_COLLECTION_KEYS = {"name", "description", "data_categories", "data_qualifier", "retention", "fields",
                    "fides_meta", "fidesops_meta"}
_COLLECTION_META = {"after", "erase_after", "skip_processing", "masking_strategy_override",
                    "partitioning", "where_clauses"}
_FIELD_KEYS = {"name", "description", "data_categories", "data_qualifier", "retention", "fides_meta",
               "fidesops_meta", "fields", "tags"}
_FIELD_META = {"identity", "primary_key", "data_type", "length", "references", "return_all_elements",
               "read_only", "custom_request_field", "masking_strategy_override"}
_REFERENCE_KEYS = {"dataset", "field", "direction"}


def is_fides(data: Any) -> bool:
    """A Fides file: a mapping whose ``dataset`` is a list."""
    return isinstance(data, dict) and isinstance(data.get("dataset"), list)


class _Converter:
    def __init__(self, doc: Document) -> None:
        self.src = doc.source
        self.out = SourceMap(doc.source.file)
        self.problems: list[Problem] = list(doc.problems)
        self.paths: dict[FieldPath, FieldPath] = {}

    def mark(self, ours: FieldPath, theirs: FieldPath) -> None:
        """Errors at ``ours`` in the converted data point at ``theirs`` in the Fides file."""
        self.paths[ours] = theirs
        value = self.src.locate(theirs)
        key = self.src.locate(theirs, key=True)
        if value is not None:
            self.out.values[ours] = value
        if key is not None:
            self.out.keys[ours] = key

    def problem(self, theirs: FieldPath, message: str, expected: str | None = None) -> None:
        loc = self.src.locate(theirs, key=True)
        self.problems.append(Problem(self.src.file, loc.line if loc else None, loc.column if loc else None,
                                     format_path(theirs), message, expected))

    def mapping(self, value: Any, theirs: FieldPath, what: str) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        if value is not None:
            self.problem(theirs, f"{what} must be a mapping, got {type(value).__name__}",
                         "key: value lines")
        return {}

    def sequence(self, value: Any, theirs: FieldPath, what: str) -> list[Any]:
        if isinstance(value, list):
            return value
        if value is not None:
            self.problem(theirs, f"{what} must be a list, got {type(value).__name__}",
                         "lines starting with '- '")
        return []

    def known(self, data: dict[str, Any], allowed: set[str], theirs: FieldPath, what: str) -> None:
        for key in data:
            if key not in allowed:
                self.problem((*theirs, key), f"unknown Fides {what} key {key!r}",
                             "one of " + ", ".join(sorted(allowed)))

    def masking(self, meta: dict[str, Any], theirs: FieldPath) -> str | None:
        override = meta.get("masking_strategy_override")
        if override is None:
            return None
        override = self.mapping(override, (*theirs, "masking_strategy_override"), "masking_strategy_override")
        strategy = override.get("strategy")
        if strategy not in MASKING:
            self.problem((*theirs, "masking_strategy_override", "strategy"),
                         f"masking strategy {strategy!r} has no Pledge equivalent",
                         "one of " + ", ".join(MASKING))
            return None
        return MASKING[strategy]

    # -- the file ---------------------------------------------------------------------
    def convert(self, data: dict[str, Any], fallback_name: str) -> dict[str, Any]:
        datasets = [self.mapping(d, ("dataset", i), "a dataset") for i, d in enumerate(data["dataset"])]
        for key in data:
            if key != "dataset":
                self.problem((key,), f"unknown top-level key {key!r} in a Fides file", "dataset")
        skipped = self.skipped(datasets)
        databases = [self.database(d, i, skipped) for i, d in enumerate(datasets)]
        self.dataset_after(datasets, databases)
        first = datasets[0] if datasets else {}
        name = first.get("fides_key") if len(datasets) == 1 else fallback_name
        self.mark(("name",), ("dataset", 0, "fides_key") if len(datasets) == 1 else ("dataset",))
        self.mark(("databases",), ("dataset",))
        out: dict[str, Any] = {"name": name or fallback_name, "databases": databases}
        if len(datasets) == 1 and first.get("description"):
            out["description"] = first["description"]
        return out

    def skipped(self, datasets: list[dict[str, Any]]) -> set[str]:
        """``fides_key.collection`` of the collections marked ``skip_processing``."""
        out: set[str] = set()
        for d in datasets:
            for c in d.get("collections") or []:
                if isinstance(c, dict) and isinstance(c.get("fides_meta"), dict) \
                        and c["fides_meta"].get("skip_processing") is True:
                    out.add(f"{d.get('fides_key')}.{c.get('name')}")
        return out

    def database(self, d: dict[str, Any], i: int, skipped: set[str]) -> dict[str, Any]:
        at: FieldPath = ("dataset", i)
        ours: FieldPath = ("databases", i)
        self.known(d, _DATASET_KEYS, at, "dataset")
        meta = self.mapping(d.get("fides_meta"), (*at, "fides_meta"), "fides_meta")
        self.known(meta, _DATASET_META, (*at, "fides_meta"), "dataset fides_meta")
        if "fides_key" not in d:
            self.problem(at, "a Fides dataset needs a fides_key (it becomes the database name)", "fides_key: <name>")
        self.mark(ours, at)
        self.mark((*ours, "name"), (*at, "fides_key"))
        self.mark((*ours, "collections"), (*at, "collections"))
        collections: list[dict[str, Any]] = []
        for j, c in enumerate(self.sequence(d.get("collections"), (*at, "collections"), "collections")):
            c = self.mapping(c, (*at, "collections", j), "a collection")
            if f"{d.get('fides_key')}.{c.get('name')}" in skipped:
                continue
            collections.append(self.collection(c, (*at, "collections", j), (*ours, "collections",
                                                                             len(collections)), skipped))
        return {"name": d.get("fides_key"), "collections": collections}

    def collection(self, c: dict[str, Any], at: FieldPath, ours: FieldPath, skipped: set[str]) -> dict[str, Any]:
        self.known(c, _COLLECTION_KEYS, at, "collection")
        meta_key = "fides_meta" if "fides_meta" in c else "fidesops_meta"
        meta = self.mapping(c.get(meta_key), (*at, meta_key), meta_key)
        self.known(meta, _COLLECTION_META, (*at, meta_key), "collection fides_meta")
        self.mark(ours, at)
        self.mark((*ours, "name"), (*at, "name"))
        self.mark((*ours, "fields"), (*at, "fields"))
        out: dict[str, Any] = {"name": c.get("name")}
        if c.get("description"):
            out["description"] = c["description"]
        strategy = self.masking(meta, (*at, meta_key))
        if strategy is not None:
            out["erasure"] = strategy
            self.mark((*ours, "erasure"), (*at, meta_key, "masking_strategy_override"))
        after: list[Any] = []
        for key in ("after", "erase_after"):
            after.extend(self.sequence(meta.get(key), (*at, meta_key, key), key))
            if meta.get(key):
                self.mark((*ours, "after"), (*at, meta_key, key))
        if after:
            out["after"] = after
        fields = []
        for k, f in enumerate(self.sequence(c.get("fields"), (*at, "fields"), "fields")):
            f = self.mapping(f, (*at, "fields", k), "a field")
            fields.append(self.field(f, (*at, "fields", k), (*ours, "fields", k), skipped))
        out["fields"] = fields
        return out

    def field(self, f: dict[str, Any], at: FieldPath, ours: FieldPath, skipped: set[str]) -> dict[str, Any]:
        self.known(f, _FIELD_KEYS, at, "field")
        meta_key = "fides_meta" if "fides_meta" in f else "fidesops_meta"
        meta = self.mapping(f.get(meta_key), (*at, meta_key), meta_key)
        self.known(meta, _FIELD_META, (*at, meta_key), "field fides_meta")
        if f.get("fields"):
            self.problem((*at, "fields"), "nested fields (document stores) are not supported",
                         "one field per SQL column")
        self.mark(ours, at)
        self.mark((*ours, "name"), (*at, "name"))
        out: dict[str, Any] = {"name": f.get("name"), "categories": f.get("data_categories") or []}
        self.mark((*ours, "categories"), (*at, "data_categories"))
        if "identity" in meta:
            identity = meta["identity"]
            out["identity"] = IDENTITIES.get(str(identity), "external_id")
            self.mark((*ours, "identity"), (*at, meta_key, "identity"))
        for key in ("primary_key", "data_type"):
            if key in meta:
                out[key] = meta[key]
                self.mark((*ours, key), (*at, meta_key, key))
        if meta.get("read_only") is True:
            out["erasure"] = "retain"
            self.mark((*ours, "erasure"), (*at, meta_key, "read_only"))
        strategy = self.masking(meta, (*at, meta_key))
        if strategy is not None:
            if strategy == "delete":
                self.problem((*at, meta_key, "masking_strategy_override"),
                             "a field cannot delete its row; put strategy: delete on the collection",
                             "null_rewrite, random_string_rewrite, string_rewrite, hash or hmac")
            else:
                out["erasure"] = strategy
                self.mark((*ours, "erasure"), (*at, meta_key, "masking_strategy_override"))
        refs: list[dict[str, Any]] = []
        for r, ref in enumerate(self.sequence(meta.get("references"), (*at, meta_key, "references"), "references")):
            rat: FieldPath = (*at, meta_key, "references", r)
            ref = self.mapping(ref, rat, "a reference")
            self.known(ref, _REFERENCE_KEYS, rat, "reference")
            target = f"{ref.get('dataset')}.{ref.get('field')}"
            if target.rsplit(".", 1)[0] in skipped:
                continue
            if "dataset" not in ref or "field" not in ref:
                self.problem(rat, "a Fides reference needs dataset and field",
                             "dataset: <fides_key>, field: <collection>.<field>")
                continue
            self.mark((*ours, "references", len(refs)), rat)
            self.mark((*ours, "references", len(refs), "field"), (*rat, "field"))
            self.mark((*ours, "references", len(refs), "direction"), (*rat, "direction"))
            refs.append({"field": target, "direction": ref.get("direction") or "from"})
        if refs:
            out["references"] = refs
        return out

    def dataset_after(self, datasets: list[dict[str, Any]], databases: list[dict[str, Any]]) -> None:
        by_key = {db["name"]: db for db in databases}
        for i, d in enumerate(datasets):
            raw_meta = d.get("fides_meta")
            meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
            for j, other in enumerate(self.sequence(meta.get("after"), ("dataset", i, "fides_meta", "after"),
                                                    "after")):
                if other not in by_key:
                    self.problem(("dataset", i, "fides_meta", "after", j),
                                 f"after names dataset {other!r}, which this file does not hold",
                                 "one of " + ", ".join(str(k) for k in by_key))
                    continue
                targets = [f"{other}.{c['name']}" for c in by_key[other]["collections"]]
                for coll in databases[i]["collections"]:
                    coll.setdefault("after", []).extend(targets)


def from_fides(document: Document, fallback_name: str = "dataset") -> Dataset:
    """A parsed Fides document as a Pledge :class:`Dataset`; raises :class:`LoadError`."""
    conv = _Converter(document)
    data = conv.convert(document.data, fallback_name)
    if conv.problems:
        conv.problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        raise LoadError(document.source.file, conv.problems)
    try:
        dataset = validate(Document(data, conv.out), Dataset)
    except LoadError as exc:
        raise LoadError(exc.file, [_fides_path(p, conv.paths) for p in exc.problems]) from None
    return dataset.loaded_from(conv.out)  # Dataset.where names the Fides file's lines


def _fides_path(problem: Problem, paths: dict[FieldPath, FieldPath]) -> Problem:
    """Name the Fides file's path in a problem found on the converted data."""
    by_text = {format_path(ours): theirs for ours, theirs in paths.items()}
    best = max((k for k in by_text if problem.path == k or problem.path.startswith((k + ".", k + "["))),
               key=len, default=None)
    if best is None:
        return problem
    path = format_path(by_text[best]) + problem.path[len(best):]
    return Problem(problem.file, problem.line, problem.column, path, problem.message, problem.expected)
