"""template.yaml and the code declare the same DynamoDB tables, keys and indexes.

For every `AWS::DynamoDB::Table` in template.yaml, the table's environment variable
(Globals.Function.Environment) and taskhook.config tell which Settings field names it; that field
tells how the code reaches the table: a PynamoDB model built the way
taskhook.adapters.dynamo.tables exposes it (the builders container.py calls), or, for the tables
reached through raw boto3 / Powertools, an explicit declaration below naming the adapter module
whose key names it restates. Both sides are reduced to the same `TableDecl` and compared: hash and
range key names and types (S/N/B), every secondary index's name, key schema and projection, and
no index on one side only. No network: the models are only built, never connected.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from pynamodb.indexes import GlobalSecondaryIndex, LocalSecondaryIndex
from pynamodb.models import Model

from infra.template import Resolver, load_template
from taskhook.adapters.dynamo import connections as connections_adapter
from taskhook.adapters.dynamo.tables import build_api_key_model, build_task_model
from taskhook.config import Settings

TABLE_TYPE = "AWS::DynamoDB::Table"
REGION = "us-east-1"


# ---- one shape for both sides ------------------------------------------------------------------

class Key(NamedTuple):
    name: str
    type: str  # "S", "N" or "B"; "<undefined>" when the template has no AttributeDefinition for it

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"


@dataclasses.dataclass(frozen=True)
class IndexDecl:
    hash: Key | None
    range: Key | None
    projection: str | None  # ALL / KEYS_ONLY / INCLUDE
    non_key_attributes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class TableDecl:
    hash: Key | None
    range: Key | None
    gsis: dict[str, IndexDecl] = dataclasses.field(default_factory=dict)
    lsis: dict[str, IndexDecl] = dataclasses.field(default_factory=dict)


def _key(key: Key | None) -> str:
    return str(key) if key else "none"


def compare(template: TableDecl, code: TableDecl) -> list[str]:
    """Every difference between the template's declaration of a table and the code's, as text."""
    diffs = []
    if template.hash != code.hash:
        diffs.append(f"hash key: template {_key(template.hash)}, code {_key(code.hash)}")
    if template.range != code.range:
        diffs.append(f"range key: template {_key(template.range)}, code {_key(code.range)}")
    for kind, t_indexes, c_indexes in (("GSI", template.gsis, code.gsis), ("LSI", template.lsis, code.lsis)):
        for name in sorted(set(t_indexes) - set(c_indexes)):
            diffs.append(f"{kind} {name}: in the template only")
        for name in sorted(set(c_indexes) - set(t_indexes)):
            diffs.append(f"{kind} {name}: in the code only")
        for name in sorted(set(t_indexes) & set(c_indexes)):
            t, c = t_indexes[name], c_indexes[name]
            if t.hash != c.hash:
                diffs.append(f"{kind} {name} hash key: template {_key(t.hash)}, code {_key(c.hash)}")
            if t.range != c.range:
                diffs.append(f"{kind} {name} range key: template {_key(t.range)}, code {_key(c.range)}")
            if (t.projection, t.non_key_attributes) != (c.projection, c.non_key_attributes):
                diffs.append(f"{kind} {name} projection: template {t.projection} {list(t.non_key_attributes)}, "
                             f"code {c.projection} {list(c.non_key_attributes)}")
    return diffs


# ---- the template side ---------------------------------------------------------------------------

def _schema_keys(schema: list[dict[str, str]], types: dict[str, str]) -> tuple[Key | None, Key | None]:
    keys: dict[str, Key] = {}
    for element in schema:
        name = element["AttributeName"]
        keys[element["KeyType"]] = Key(name, types.get(name, "<undefined>"))
    return keys.get("HASH"), keys.get("RANGE")


def template_declaration(props: dict[str, Any]) -> TableDecl:
    types = {d["AttributeName"]: d["AttributeType"] for d in props.get("AttributeDefinitions", [])}
    indexes: dict[str, dict[str, IndexDecl]] = {"GlobalSecondaryIndexes": {}, "LocalSecondaryIndexes": {}}
    for section, out in indexes.items():
        for index in props.get(section, []):
            projection = index.get("Projection", {})
            out[index["IndexName"]] = IndexDecl(
                *_schema_keys(index["KeySchema"], types),
                projection=projection.get("ProjectionType"),
                non_key_attributes=tuple(sorted(projection.get("NonKeyAttributes", ()))),
            )
    return TableDecl(*_schema_keys(props["KeySchema"], types),
                     gsis=indexes["GlobalSecondaryIndexes"], lsis=indexes["LocalSecondaryIndexes"])


def attribute_definition_problems(props: dict[str, Any]) -> list[str]:
    """DynamoDB wants exactly the key attributes (table and indexes) in AttributeDefinitions."""
    defined = [d["AttributeName"] for d in props.get("AttributeDefinitions", [])]
    schemas = [props["KeySchema"]] + [index["KeySchema"] for section in ("GlobalSecondaryIndexes",
                                                                          "LocalSecondaryIndexes")
                                      for index in props.get(section, [])]
    used = {element["AttributeName"] for schema in schemas for element in schema}
    problems = [f"{name} is a key but has no AttributeDefinition" for name in sorted(used - set(defined))]
    problems += [f"{name} is defined but is no key" for name in sorted(set(defined) - used)]
    problems += [f"{name} is defined twice" for name in sorted({n for n in defined if defined.count(n) > 1})]
    return problems


# ---- the PynamoDB side ---------------------------------------------------------------------------

def _index_keys(index: Any) -> tuple[Key | None, Key | None]:
    hash_key = range_key = None
    for attribute in index.Meta.attributes.values():  # filled by Index.__init_subclass__
        if attribute.is_hash_key:
            hash_key = Key(attribute.attr_name, attribute.attr_type)
        if attribute.is_range_key:
            range_key = Key(attribute.attr_name, attribute.attr_type)
    return hash_key, range_key


def model_declaration(model: type[Model]) -> TableDecl:
    attributes = model.get_attributes()  # python name -> Attribute; attr_name is the DynamoDB name

    def key(python_name: str | None) -> Key | None:
        if python_name is None:
            return None
        attribute = attributes[python_name]
        return Key(attribute.attr_name, attribute.attr_type)

    gsis: dict[str, IndexDecl] = {}
    lsis: dict[str, IndexDecl] = {}
    for name, index in model._indexes.items():  # index_name -> Index, set by MetaModel
        projection = index.Meta.projection
        declared = IndexDecl(*_index_keys(index), projection=projection.projection_type,
                             non_key_attributes=tuple(sorted(projection.non_key_attributes or ())))
        if isinstance(index, GlobalSecondaryIndex):
            gsis[name] = declared
        elif isinstance(index, LocalSecondaryIndex):
            lsis[name] = declared
        else:
            raise TypeError(f"{model.__name__}.{name}: neither a global nor a local index")
    return TableDecl(key(model._hash_keyname), key(model._range_keyname), gsis=gsis, lsis=lsis)


def model_consistency_problems(model: type[Model]) -> list[str]:
    """An index key that is also a model attribute must have the model attribute's type."""
    by_dynamo_name = {a.attr_name: a for a in model.get_attributes().values()}
    problems = []
    for name, index in model._indexes.items():
        if index.Meta.index_name != name:
            problems.append(f"index registered as {name} but named {index.Meta.index_name}")
        for key in _index_keys(index):
            if key and key.name in by_dynamo_name and by_dynamo_name[key.name].attr_type != key.type:
                problems.append(f"{name}: {key} but the model's {key.name} is {by_dynamo_name[key.name].attr_type}")
    return problems


# ---- how the code reaches each table (keyed by the Settings field that names it) -----------------

# The PynamoDB models, built as taskhook.container builds them (task_model(), api_key_model()).
MODEL_BUILDERS: dict[str, Callable[[str, str, str | None], type[Model]]] = {
    "tasks_table": build_task_model,
    "api_keys_table": build_api_key_model,
}

# Tables with no PynamoDB model. These declarations are written out by hand: each restates the key
# names that the named module uses, so a change on either side has to be made here as well.
RAW_TABLES: dict[str, tuple[str, TableDecl]] = {
    # Powertools' DynamoDBPersistenceLayer, built by container.idempotency() with its default key
    # (key_attr="id", no sort_key_attr): a string partition key, no index.
    "idempotency_table": ("taskhook.adapters.dynamo.idempotency (Powertools DynamoDBPersistenceLayer)",
                          TableDecl(Key("id", "S"), None)),
    # DynamoSecretStore: get_item / update_item with Key={"teamId": {"S": ...}}.
    "teams_table": ("taskhook.adapters.dynamo.team_secrets", TableDecl(Key("teamId", "S"), None)),
    # The token vault (adapters/dynamo/vault.py): rows keyed by the team and a row id (a token's
    # `tok_…` id, its name's reservation, the team's counter).
    "vault_table": ("taskhook.adapters.dynamo.vault", TableDecl(Key("teamId", "S"), Key("id", "S"))),
    # Limits (adapters/dynamo/rate_limits.py, leases.py): one item per bucket or lease set, by `key`.
    "limits_table": ("taskhook.adapters.dynamo.rate_limits", TableDecl(Key("key", "S"), None)),
    # TeamStats (adapters/dynamo/team_stats.py): per team a `counts` item and `day#YYYY-MM-DD` items.
    "team_stats_table": ("taskhook.adapters.dynamo.team_stats", TableDecl(Key("teamId", "S"), Key("key", "S"))),
    # DynamoConnectionStore: put_item of connectionId/topic/teamId (all "S"), delete_item with
    # Key={"connectionId", "topic"}, and a Query of IndexName=TEAM_INDEX on "teamId = :t" that reads
    # connectionId and topic back: the table's own keys, which KEYS_ONLY projects. The index's range
    # key (connectionId) is not used by the adapter; it is restated from the index's design (one
    # row per connection within a team).
    "connections_table": ("taskhook.adapters.dynamo.connections", TableDecl(
        Key("connectionId", "S"), Key("topic", "S"),
        gsis={connections_adapter.TEAM_INDEX: IndexDecl(Key("teamId", "S"), Key("connectionId", "S"), "KEYS_ONLY")},
    )),
}

# Raw boto3 calls on tables that do have a model: the key they pass must be the table's key.
# (module, Settings field, hash key, range key)
RAW_KEY_USES = [
    # DynamoNotificationLog.record: update_item(Key={"id": {"S": task_id}}) on the tasks table.
    ("taskhook.adapters.dynamo.notification_log", "tasks_table", Key("id", "S"), None),
]


# ---- reading template.yaml -----------------------------------------------------------------------

TEMPLATE = load_template()


def _no_physical(logical_id: str) -> dict[str, str]:
    raise AssertionError(f"a table name should not depend on another resource ({logical_id})")


def declared_tables(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """logical id -> Properties of every DynamoDB table in the template, its conditions resolved
    with the parameters' defaults (the tasks table's staged indexes: the final stage)."""
    resolver = Resolver(template, _no_physical)
    return {logical_id: resolver.resolve(resource.get("Properties", {}))
            for logical_id, resource in template["Resources"].items() if resource["Type"] == TABLE_TYPE}


def settings_field_of_table(template: dict[str, Any]) -> dict[str, str]:
    """logical id of a table -> the Settings field its environment variable fills (taskhook.config)."""
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    tables = declared_tables(template)
    defaults = Settings()
    out: dict[str, str] = {}
    for variable, value in variables.items():
        if not (isinstance(value, dict) and value.get("Ref") in tables):
            continue
        marker = f"<{variable}>"
        read = Settings.from_env({variable: marker})
        fields = [f.name for f in dataclasses.fields(Settings) if getattr(read, f.name) == marker
                  and getattr(defaults, f.name) != marker]
        assert len(fields) == 1, f"{variable} (-> {value['Ref']}) fills Settings fields {fields}, expected one"
        out[value["Ref"]] = fields[0]
    return out


TABLES = declared_tables(TEMPLATE)
FIELDS = settings_field_of_table(TEMPLATE)
TABLE_NAMES = Resolver(TEMPLATE, _no_physical)


def _logical(field: str) -> str:
    """The logical id of the table that Settings.<field> names."""
    return next(logical for logical, f in FIELDS.items() if f == field)


def code_declaration(logical_id: str) -> tuple[str, TableDecl, type[Model] | None]:
    """(where the code declares the table, its declaration, the model if there is one)."""
    field = FIELDS[logical_id]
    if field in MODEL_BUILDERS:
        table_name = TABLE_NAMES.resolve(TABLES[logical_id]["TableName"])
        model = MODEL_BUILDERS[field](table_name, REGION, None)
        assert model.Meta.table_name == table_name
        return f"taskhook.adapters.dynamo.tables.{MODEL_BUILDERS[field].__name__}", model_declaration(model), model
    source, declaration = RAW_TABLES[field]
    return source, declaration, None


# ---- the checks ----------------------------------------------------------------------------------

def test_the_template_declares_tables() -> None:
    assert TABLES, "template.yaml declares no AWS::DynamoDB::Table"


@pytest.mark.parametrize("logical_id", sorted(TABLES))
def test_every_table_is_named_by_an_environment_variable_the_code_reads(logical_id: str) -> None:
    assert logical_id in FIELDS, f"{logical_id}: no Globals.Function.Environment variable refers to it"
    field = FIELDS[logical_id]
    assert (field in MODEL_BUILDERS) != (field in RAW_TABLES), (
        f"{logical_id} (Settings.{field}) needs exactly one code declaration: a model builder or a RAW_TABLES entry")


def test_every_code_declaration_belongs_to_a_template_table() -> None:
    known = set(FIELDS.values())
    assert set(MODEL_BUILDERS) | set(RAW_TABLES) <= known
    assert {field for _, field, _, _ in RAW_KEY_USES} <= known


@pytest.mark.parametrize("logical_id", sorted(TABLES))
def test_the_default_table_names_are_the_templates(logical_id: str) -> None:
    """Settings' defaults (used when the environment names no table) are the template's names."""
    expected = TABLE_NAMES.resolve(TABLES[logical_id]["TableName"])
    assert getattr(Settings(), FIELDS[logical_id]) == expected


@pytest.mark.parametrize("logical_id", sorted(TABLES))
def test_the_template_defines_exactly_the_key_attributes(logical_id: str) -> None:
    assert attribute_definition_problems(TABLES[logical_id]) == []


@pytest.mark.parametrize("logical_id", sorted(TABLES))
def test_template_and_code_declare_the_same_keys_and_indexes(logical_id: str) -> None:
    source, code, model = code_declaration(logical_id)
    if model is not None:
        assert model_consistency_problems(model) == [], source
    for declaration in (code.hash, code.range, *[k for i in (*code.gsis.values(), *code.lsis.values())
                                                  for k in (i.hash, i.range)]):
        assert declaration is None or declaration.type in ("S", "N", "B"), f"{source}: {declaration}"
    diffs = compare(template_declaration(TABLES[logical_id]), code)
    assert diffs == [], f"{logical_id} in template.yaml vs {source}:\n" + "\n".join(diffs)


@pytest.mark.parametrize(("module", "field", "hash_key", "range_key"), RAW_KEY_USES)
def test_raw_key_uses_on_modelled_tables_are_the_table_keys(
    module: str, field: str, hash_key: Key, range_key: Key | None
) -> None:
    logical_id = _logical(field)
    declared = template_declaration(TABLES[logical_id])
    assert (declared.hash, declared.range) == (hash_key, range_key), f"{module} vs {logical_id}"


def test_the_idempotency_declaration_is_powertools_default_key() -> None:
    """RAW_TABLES restates Powertools' defaults; fail here if the library changes them."""
    parameters = inspect.signature(DynamoDBPersistenceLayer.__init__).parameters
    assert parameters["key_attr"].default == RAW_TABLES["idempotency_table"][1].hash.name
    assert parameters["sort_key_attr"].default is None


# ---- the comparison can fail ---------------------------------------------------------------------

def _tasks_table(template: dict[str, Any]) -> dict[str, Any]:
    return declared_tables(template)[_logical("tasks_table")]


def _drop_index(props: dict[str, Any]) -> None:
    props["GlobalSecondaryIndexes"] = [i for i in props["GlobalSecondaryIndexes"]
                                       if i["IndexName"] != "activeDeadline"]


def _add_index(props: dict[str, Any]) -> None:
    props["GlobalSecondaryIndexes"].append({
        "IndexName": "byStatus", "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"}})


def _number_sort_key(props: dict[str, Any]) -> None:
    for definition in props["AttributeDefinitions"]:
        if definition["AttributeName"] == "createdAt":
            definition["AttributeType"] = "N"


def _all_projected(props: dict[str, Any]) -> None:
    props["GlobalSecondaryIndexes"][0]["Projection"] = {"ProjectionType": "ALL"}


def _range_key_on_table(props: dict[str, Any]) -> None:
    props["KeySchema"].append({"AttributeName": "createdAt", "KeyType": "RANGE"})


@pytest.mark.parametrize(("mutate", "expected"), [
    (_drop_index, ["GSI activeDeadline: in the code only"]),
    (_add_index, ["GSI byStatus: in the template only"]),
    (_number_sort_key, ["GSI byTeamPhase range key: template createdAt (N), code createdAt (S)"]),
    (_all_projected, ["GSI byTeamPhase projection: template ALL [], code KEYS_ONLY []"]),
    (_range_key_on_table, ["range key: template createdAt (S), code none"]),
], ids=["index dropped", "index added", "key type changed", "projection changed", "range key added"])
def test_a_mutated_template_is_reported(mutate: Callable[[dict[str, Any]], None], expected: list[str]) -> None:
    props = copy.deepcopy(_tasks_table(TEMPLATE))
    mutate(props)
    logical_id = _logical("tasks_table")
    _, code, _ = code_declaration(logical_id)
    assert compare(template_declaration(props), code) == expected
    assert compare(template_declaration(_tasks_table(TEMPLATE)), code) == []  # the original is untouched


def test_a_mutated_raw_declaration_is_reported() -> None:
    logical_id = _logical("connections_table")
    _, code, _ = code_declaration(logical_id)
    without_index = dataclasses.replace(code, gsis={})
    assert compare(template_declaration(TABLES[logical_id]), without_index) == [
        f"GSI {connections_adapter.TEAM_INDEX}: in the template only"]


def test_an_undefined_key_attribute_is_reported() -> None:
    props = copy.deepcopy(_tasks_table(TEMPLATE))
    props["AttributeDefinitions"] = [d for d in props["AttributeDefinitions"] if d["AttributeName"] != "dueAt"]
    assert attribute_definition_problems(props) == ["dueAt is a key but has no AttributeDefinition"]
    assert "GSI delayedDue range key: template dueAt (<undefined>), code dueAt (S)" in compare(
        template_declaration(props), code_declaration(_logical("tasks_table"))[1])
