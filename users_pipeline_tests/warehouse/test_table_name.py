"""A table name from configuration is a name or refused, and its siblings never collide."""

import psycopg
import pytest

from users_pipeline.contract.columns import MAX_NAME_BYTES
from users_pipeline.warehouse.schema import ensure_table
from users_pipeline.warehouse.table_name import TableName, WarehouseConfigError
from users_pipeline_tests.conftest import USERS_CONTRACT
from users_pipeline_tests.warehouse.test_load import TABLE_SETTING


@pytest.mark.parametrize(
    "name", ["users; DROP TABLE x", "a.b.c", "", "1users", 'us"ers', "public.", "x" * 64]
)
def test_table_names_that_are_not_identifiers_are_refused(name: str):
    with pytest.raises(WarehouseConfigError, match="USERS_TABLE=.* is not a table name"):
        TableName.parse(name, TABLE_SETTING)


def test_the_longest_table_name_leaves_room_for_its_siblings():
    longest = TableName.parse("t" * 55)
    siblings = [longest.loads, longest.rejects, longest.staging, longest.history, longest.changes]
    assert max(len(sibling.name) for sibling in siblings) == MAX_NAME_BYTES
    with pytest.raises(WarehouseConfigError, match="postgres.table='t{56}' is not a table name"):
        TableName.parse("t" * 56)


def test_schema_qualified_names_create_the_schema(postgres_url, pg, users_table):
    table = TableName.parse(users_table)
    with psycopg.connect(postgres_url) as conn:
        ensure_table(conn, table, USERS_CONTRACT)
        conn.commit()
    assert pg.execute("SELECT to_regclass(%s)", (users_table,)).fetchone()[0] is not None
