"""The data plane: the one way Pledge reads and writes the platform's own stores.

* :mod:`~pledge.dataplane.identity` — how each identity kind is normalised and matched
  (emails case-insensitively, everywhere);
* :mod:`~pledge.dataplane.rowkey` — which columns name a row (composite keys; the rule for
  tables without a primary key);
* :mod:`~pledge.dataplane.schema` — ``require_live_schema(engine)``: the data map checked
  against the live schema before any run, cached per process, refreshed on change; also
  ``live_column`` (a live column's type, from that cache) and ``live_connector`` (what
  ``pledge datamap check`` inspects);
* :mod:`~pledge.dataplane.resolve` — ``resolve(engine, identities)``: a person's rows across
  every database, with the identities discovered on the way (``Located``);
* :mod:`~pledge.dataplane.people` — the person's own row: consent facts, the organisation
  administrator, the last-activity column.
* :mod:`~pledge.dataplane.condition` — the condition language of rules and holds, compiled;
* :mod:`~pledge.dataplane.selection` — *which rows*, described as data (a clock before a moment,
  read through declared references where needed; conditions; row-key sets and ranges) and run
  set-based: counts, keyset pages by row key (composite keys as row values), range deletes, rows
  linked by (composite) foreign keys. Retention sweeps, holds, proofs and campaigns use it;
* :mod:`~pledge.dataplane.writes` — masks, deletes and set values by row key (erasure, retention,
  rectification), and :class:`~pledge.dataplane.writes.MaskPreview` (what a dry run predicts);
* :mod:`~pledge.dataplane.masking` — the masking strategies and their statements.

Statements are built only here and by the connectors (:mod:`pledge.connectors`): ``find``,
``fetch``, ``find_between``, ``update_keys``, ``advance_keys``, ``delete_keys`` and the
helper ``pledge.connectors.sql.key_in``. A new kind of store implements
``pledge.connectors.base.Connector`` and everything above works on it unchanged.

(Nothing is imported here, so that connectors can use the identity rules without a cycle.)
"""
