"""Coming from the article's pipeline: its `.env` works unchanged, and its `users` table (no
primary key, duplicates from append runs) is adopted without losing a row."""

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from users_pipeline_tests.conftest import S3_TEST_CREDENTIALS
from users_pipeline_tests.test_cli import materialize
from users_pipeline_tests.test_pipeline import expected_rows, materializations, run, table_rows

# The article's table: no primary key, every run appends.
ARTICLE_CREATE_TABLE = """
CREATE TABLE {table} (
    id INT,
    name VARCHAR(255),
    email VARCHAR(255),
    gender VARCHAR(50),
    status VARCHAR(50),
    inserted_from VARCHAR(50)
)"""


def article_table(pg, users_table: str, users: list[dict], copies: int) -> None:
    pg.execute(f"CREATE SCHEMA IF NOT EXISTS {users_table.split('.')[0]}")
    pg.execute(ARTICLE_CREATE_TABLE.format(table=users_table))
    rows = [(u["id"], u["name"], u["email"], u["gender"], u["status"], "prefect") for u in users]
    with pg.cursor() as cursor:
        for _ in range(copies):
            cursor.executemany(f"INSERT INTO {users_table} VALUES (%s, %s, %s, %s, %s, %s)", rows)


@pytest.mark.cli
def test_the_articles_env_file_works_unchanged(
    tmp_path, gorest, s3, bucket, postgres_url, pg, users_table
):
    server = conninfo_to_dict(postgres_url)
    (tmp_path / ".env").write_text(
        "\n".join(
            [
                "API_USERS=http://127.0.0.1:9/wrong-but-overridden",
                f"AWS_KEY={S3_TEST_CREDENTIALS['aws_access_key_id']}",
                "AWS_SECRET=article-aws-secret",
                f"S3_BUCKET={bucket}",
                f"PG_HOST={server['host']}",
                f"PG_PORT={server.get('port', 5432)}",
                f"PG_USER={server['user']}",
                f"PG_PASS={server.get('password') or 'article-pg-secret'}",
            ]
        )
    )
    # Our own names win where both are set (here: the API URL).
    result = materialize(
        tmp_path,
        USERS_API_URL=gorest.url,
        S3_ENDPOINT_URL=s3.endpoint_url,
        AWS_REGION="us-east-1",
        USERS_TABLE=users_table,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert [row[:5] for row in table_rows(pg, users_table)] == [
        row[:5] for row in expected_rows(gorest.users)
    ]
    assert "article-aws-secret" not in result.stdout + result.stderr


def test_the_articles_table_with_identical_duplicates_is_adopted(
    resources, gorest, pg, users_table
):
    article_table(pg, users_table, gorest.users, copies=3)

    result = run(resources)

    (event,) = materializations(result, "pg_users_table")
    changes = event.metadata["table_changes"].value
    assert f"merged {2 * len(gorest.users)} identical duplicate rows" in changes
    assert "added primary key (id)" in changes
    assert table_rows(pg, users_table) == expected_rows(gorest.users)


def test_conflicting_duplicates_stop_the_load_and_change_nothing(
    resources, gorest, pg, users_table
):
    article_table(pg, users_table, gorest.users[:100], copies=1)
    changed = dict(
        gorest.users[5], status="inactive" if gorest.users[5]["status"] == "active" else "active"
    )
    article_table_rows = f"SELECT * FROM {users_table} ORDER BY id, status"
    with pg.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {users_table} VALUES (%s, %s, %s, %s, %s, 'prefect')",
            tuple(changed[k] for k in ("id", "name", "email", "gender", "status")),
        )
    before = pg.execute(article_table_rows).fetchall()

    result = run(resources, raise_on_error=False)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert f"1 ids with differing duplicate rows (e.g. id {changed['id']})" in message
    assert "nothing was changed" in message
    assert pg.execute(article_table_rows).fetchall() == before
    columns = pg.execute(f"SELECT * FROM {users_table} LIMIT 0").description
    assert [c.name for c in columns] == ["id", "name", "email", "gender", "status", "inserted_from"]
    with pytest.raises(psycopg.errors.UndefinedTable):
        pg.execute(f"SELECT * FROM {users_table}_loads")
